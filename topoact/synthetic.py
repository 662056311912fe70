"""Seeded synthetic point clouds with known shape, for tests, benchmarks and demos."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["relu_gaussian_mixture", "noisy_circle", "y_shape", "blobs", "SHAPES", "Shape", "planar_shape", "embedded_shape"]


def relu_gaussian_mixture(
    n_samples: int,
    dim: int = 512,
    n_clusters: int = 20,
    *,
    spread: float = 0.3,
    intrinsic_dim: int | None = None,
    noise: float = 0.05,
    gain_range: tuple[float, float] = (0.5, 1.5),
    seed: int = 0,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """ReLU-like activations: ``relu(gain * (centre_k + spread * offset))``.

    Each cluster (a "class") has a Gaussian centre; every sample has its own gain,
    as real activations scale with input contrast, so clusters stretch along the
    norm that TopoAct's lens measures.

    Parameters
    ----------
    intrinsic_dim : int or None
        ``None``: the offset is isotropic Gaussian in all ``dim`` directions.
        An integer ``d``: each cluster's offset lies near its own random
        ``d``-dimensional subspace (a low-rank Gaussian, plus isotropic ``noise``),
        as activations of trained networks do (their intrinsic dimension is far
        below their width).

    Returns
    -------
    X : ndarray of shape (n_samples, dim)
    labels : ndarray of int64, shape (n_samples,)
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim))
    bases = None
    if intrinsic_dim is not None:
        bases = rng.standard_normal((n_clusters, intrinsic_dim, dim)) / np.sqrt(intrinsic_dim) * np.sqrt(dim / intrinsic_dim)
    labels = rng.integers(0, n_clusters, size=n_samples)
    gain = rng.uniform(*gain_range, size=(n_samples, 1))
    X = np.empty((n_samples, dim), dtype=dtype)
    for start in range(0, n_samples, 16384):
        stop = min(start + 16384, n_samples)
        block_labels = labels[start:stop]
        if bases is None:
            offset = rng.standard_normal((stop - start, dim))
        else:
            latent = rng.standard_normal((stop - start, intrinsic_dim))
            offset = np.einsum("nd,ndk->nk", latent, bases[block_labels]) / np.sqrt(dim / intrinsic_dim)
            offset += noise * rng.standard_normal((stop - start, dim))
        X[start:stop] = np.maximum(gain[start:stop] * (centres[block_labels] + spread * offset), 0.0)
    return X, labels.astype(np.int64)


def noisy_circle(n_samples: int = 600, noise: float = 0.03, seed: int = 0) -> np.ndarray:
    """Points near the unit circle in 2-D: one loop."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n_samples)
    return np.c_[np.cos(angle), np.sin(angle)] + noise * rng.standard_normal((n_samples, 2))


def y_shape(n_per_arm: int = 300, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    """A "Y" in 2-D: a stem along y in [0, 1] and two arms from (0, 1) to (+-1, 2).

    With the y coordinate as lens it has one branch point.
    """
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 1, (3, n_per_arm))
    stem = np.c_[np.zeros(n_per_arm), t[0]]
    left = np.c_[-t[1], 1 + t[1]]
    right = np.c_[t[2], 1 + t[2]]
    return np.vstack([stem, left, right]) + noise * rng.standard_normal((3 * n_per_arm, 2))


def blobs(n_blobs: int = 3, n_per_blob: int = 200, dim: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well separated Gaussian blobs (centres 20 apart, unit spread)."""
    rng = np.random.default_rng(seed)
    centres = 20.0 * np.eye(max(n_blobs, dim))[:n_blobs, :dim] if n_blobs <= dim else 20.0 * rng.standard_normal((n_blobs, dim))
    labels = np.repeat(np.arange(n_blobs), n_per_blob)
    return centres[labels] + rng.standard_normal((labels.size, dim)), labels


@dataclass(frozen=True)
class Shape:
    """A planar shape of known topology: what a Mapper graph of it must show."""

    name: str
    components: int
    loops: int
    description: str


#: The shapes of the shape benchmark, by name. All lie in about [-3, 3] x [-1, 2].
SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        Shape("circle", 1, 1, "unit circle"),
        Shape("two_circles", 2, 2, "two unit circles, centres 3 apart (gap 1)"),
        Shape("figure_eight", 1, 2, "two unit circles touching at the origin"),
        Shape("y", 1, 0, "a stem and two arms meeting at one branch point"),
        Shape("blobs", 3, 0, "three Gaussian blobs (sd 0.15), centres 3 apart"),
        Shape("line", 1, 0, "a segment of length 4"),
    )
}


def planar_shape(name: str, n_samples: int, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    """``n_samples`` points of the shape ``name`` (see :data:`SHAPES`) in 2-D, plus Gaussian noise.

    Points are spread over the shape in proportion to its length (blobs: equal
    thirds); ``noise`` is the standard deviation of the isotropic 2-D noise added.

    Returns
    -------
    ndarray of float64, shape (n_samples, 2)
    """
    if name not in SHAPES:
        raise ValueError(f"unknown shape {name!r}; known: {', '.join(SHAPES)}")
    rng = np.random.default_rng(seed)
    if name in ("circle", "two_circles", "figure_eight"):
        angle = rng.uniform(0, 2 * np.pi, n_samples)
        points = np.c_[np.cos(angle), np.sin(angle)]
        side = rng.integers(0, 2, n_samples)
        if name == "two_circles":
            points[:, 0] += np.where(side == 0, -1.5, 1.5)
        elif name == "figure_eight":
            points[:, 0] += np.where(side == 0, -1.0, 1.0)
    elif name == "y":
        arm = rng.integers(0, 3, n_samples)
        t = rng.uniform(0, 1, n_samples)
        direction = np.array([[0.0, -1.0], [-np.sqrt(0.5), np.sqrt(0.5)], [np.sqrt(0.5), np.sqrt(0.5)]])
        points = 1.5 * t[:, None] * direction[arm]
    elif name == "blobs":
        centres = 3.0 * np.array([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
        points = centres[rng.integers(0, 3, n_samples)] + 0.15 * rng.standard_normal((n_samples, 2))
    else:  # line
        points = np.c_[rng.uniform(-2, 2, n_samples), np.zeros(n_samples)]
    return points + noise * rng.standard_normal((n_samples, 2))


def embedded_shape(name: str, n_samples: int, dim: int = 2, noise: float = 0.02, seed: int = 0,
                   dtype=np.float64) -> np.ndarray:
    """:func:`planar_shape` rotated into ``dim`` dimensions by a seeded random orthonormal map.

    The noise is added in the plane before the rotation, so distances (and the
    shape) are those of the 2-D points in every ``dim``.
    """
    points = planar_shape(name, n_samples, noise=noise, seed=seed)
    if dim == 2:
        return points.astype(dtype)
    if dim < 2:
        raise ValueError(f"dim must be at least 2, got {dim}")
    basis, _ = np.linalg.qr(np.random.default_rng(seed + 7919).standard_normal((dim, 2)))
    return (points @ basis.T).astype(dtype)

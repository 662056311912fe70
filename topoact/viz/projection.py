"""2-D projections of activation vectors for the side view linked to the graph."""

from __future__ import annotations

import numpy as np

__all__ = ["PROJECTIONS", "available_projections", "project_2d"]

PROJECTIONS: tuple[str, ...] = ("pca", "umap")


def available_projections() -> list[str]:
    """Projection methods usable here: PCA always, UMAP when ``umap-learn`` is installed."""
    methods = ["pca"]
    try:
        import umap  # noqa: F401

        methods.append("umap")
    except ImportError:
        pass
    return methods


def project_2d(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Project activation vectors to 2-D.

    Parameters
    ----------
    vectors : ndarray of shape (n_points, dim)
    method : {'pca', 'umap'}, default 'pca'
        UMAP needs ``umap-learn``.
    seed : int, default 0
        Seed of the randomised solvers.

    Returns
    -------
    ndarray of shape (n_points, 2), float32
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ValueError(f"vectors must be a non-empty 2-D array, got shape {vectors.shape}")
    if method == "pca":
        from sklearn.decomposition import PCA

        if vectors.shape[1] == 1:
            return np.hstack([vectors, np.zeros_like(vectors)])
        n_components = min(2, vectors.shape[0])
        out = PCA(n_components=n_components, random_state=seed).fit_transform(vectors).astype(np.float32)
        return out if out.shape[1] == 2 else np.hstack([out, np.zeros_like(out)])
    if method == "umap":
        if "umap" not in available_projections():
            raise ValueError("UMAP needs the umap-learn package; use method='pca'")
        import umap

        return umap.UMAP(n_components=2, random_state=seed).fit_transform(vectors).astype(np.float32)
    raise ValueError(f"unknown projection {method!r}; valid: {', '.join(PROJECTIONS)}")

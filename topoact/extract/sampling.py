"""Samplers: turn one layer's output for a batch into a few activation vectors per sample.

Pure functions of a batch tensor, the dataset row index of every sample and a seed.
Randomness never comes from a global generator: every random choice is a hash of
``(seed, sample id, position)``, so results do not depend on the batch size, on the
batch a sample lands in, or on which other layers are extracted in the same pass.

Layouts
-------
A layer output is read as ``(N, P, C)``: N samples, P positions, C channels.

* ``(N, C, H, W)`` (conv, ``layout="nchw"``) or ``(N, H, W, C)`` (``layout="nhwc"``):
  P = H * W and a position is the flattened index ``h * W + w``.
* ``(N, T, C)`` (ViT / transformer blocks): a position is a token index.
* ``(N, C)`` (pooled features, logits): one vector, position ``-1``.

Image samplers
--------------
``random_position``
    One random spatial position per sample (TopoAct). The position is drawn as a
    relative location ``(u_h, u_w)`` in ``[0, 1)^2`` from ``(seed, sample id)`` and
    scaled to the grid, so a sample looks at the same place of the image in every layer.
``gap``
    Global average pooling over all positions (position ``-1``).
``max_norm``
    The position whose vector has the largest L2 norm.
``all_positions``
    Every position; when there are more than ``max_positions``, a seeded random
    subset of ``max_positions`` of them (in position order).

Text samplers
-------------
Text samplers take ``valid`` (N, T) — the attention mask (False for padding) — and
``candidate`` (N, T) — valid tokens that are not special tokens ([CLS], [SEP], ...).
Padding is never sampled.

``random_token``
    One random candidate token per sentence (falls back to any valid token when a
    sentence has no candidate, e.g. an empty string).
``cls``
    The first token (position 0).
``mean_tokens``
    Mean over valid tokens (position ``-1``), as sentence-transformers' mean pooling.
``all_tokens``
    Every candidate token; at most ``max_positions`` of them, a seeded random subset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from topoact.extract.names import IMAGE_SAMPLINGS, SAMPLINGS, TEXT_SAMPLINGS  # noqa: F401  (re-exported)
LAYOUTS: tuple[str, ...] = ("nchw", "nhwc")

Layout = Literal["nchw", "nhwc"]

# Streams keep the random numbers of different uses apart.
_STREAM_POSITION = 1
_STREAM_SUBSET = 2
_STREAM_ROWS = 3

_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Sampled:
    """Vectors kept from one batch of one layer.

    Attributes
    ----------
    vectors : Tensor of shape (R, C), float32, on the layer's device
    positions : ndarray of shape (R,), int32
        Flattened position or token index, ``-1`` for pooled vectors.
    rows : ndarray of shape (R,), int64
        Index of the sample within the batch each vector came from.
    layer_shape : tuple of int
        Shape of one sample's layer output (without the batch axis).
    """

    vectors: torch.Tensor
    positions: np.ndarray
    rows: np.ndarray
    layer_shape: tuple[int, ...]


def check_sampling(sampling: str, modality: str, max_positions: int = 1) -> None:
    """Raise ``ValueError`` unless ``sampling`` fits ``modality`` and ``max_positions`` >= 1.

    Parameters
    ----------
    sampling : str
        One of :data:`SAMPLINGS`.
    modality : {'image', 'text'}
        Modality of the model and dataset.
    max_positions : int
        Cap on the vectors per sample of ``all_positions`` / ``all_tokens``.
    """
    if sampling not in SAMPLINGS:
        raise ValueError(
            f"unknown sampling {sampling!r}; valid: {', '.join(SAMPLINGS)}"
        )
    if modality not in ("image", "text"):
        raise ValueError(f"unknown modality {modality!r}; valid: image, text")
    allowed = IMAGE_SAMPLINGS if modality == "image" else TEXT_SAMPLINGS
    if sampling not in allowed:
        raise ValueError(
            f"sampling {sampling!r} does not apply to a {modality} model; "
            f"use one of: {', '.join(allowed)}"
        )
    if isinstance(max_positions, bool) or not isinstance(max_positions, (int, np.integer)):
        raise ValueError(f"max_positions must be an integer >= 1, got {max_positions!r}")
    if max_positions < 1:
        raise ValueError(f"max_positions must be >= 1, got {max_positions}")


# --------------------------------------------------------------------------- randomness
def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniforms(seed: int, sample_ids: np.ndarray, n: int, stream: int = 0) -> np.ndarray:
    """Counter-based uniform numbers in ``[0, 1)``: a pure function of its arguments.

    Parameters
    ----------
    seed : int
    sample_ids : array-like of int, shape (N,)
        Dataset row of each sample.
    n : int
        How many numbers per sample.
    stream : int
        Separates independent uses of the same ``(seed, sample id)``.

    Returns
    -------
    ndarray of shape (N, n), float64
        Entry ``[i, j]`` depends only on ``(seed, sample_ids[i], stream, j)``.
    """
    ids = np.asarray(sample_ids, dtype=np.int64).astype(np.uint64)
    key = _splitmix64(np.array([int(seed) & _MASK64], dtype=np.uint64))
    key = _splitmix64(key ^ _splitmix64(np.array([stream & _MASK64], dtype=np.uint64)))
    base = _splitmix64(key ^ _splitmix64(ids))  # (N,)
    counters = np.arange(n, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)  # (n,)
    with np.errstate(over="ignore"):
        bits = _splitmix64(base[:, None] + counters[None, :])
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def subset_rows(n_rows: int, limit: int | None, seed: int) -> np.ndarray:
    """Rows of a dataset to use: all of them, or a seeded random ``limit`` of them, sorted.

    Parameters
    ----------
    n_rows : int
        Length of the dataset.
    limit : int or None
        At most this many rows; None keeps all.
    seed : int

    Returns
    -------
    ndarray of int64
        Sorted row indices.
    """
    if limit is None or limit >= n_rows:
        return np.arange(n_rows, dtype=np.int64)
    keys = uniforms(seed, np.zeros(1, dtype=np.int64), n_rows, stream=_STREAM_ROWS)[0]
    return np.sort(np.argsort(keys, kind="stable")[:limit]).astype(np.int64)


# --------------------------------------------------------------------------- layouts
def layer_positions(x: torch.Tensor, layout: Layout = "nchw") -> torch.Tensor:
    """View a layer output as ``(N, P, C)`` (no copy).

    Parameters
    ----------
    x : Tensor of shape (N, C), (N, T, C) or 4-D
    layout : {'nchw', 'nhwc'}
        How a 4-D output is laid out.
    """
    if x.ndim == 2:
        return x[:, None, :]
    if x.ndim == 3:
        return x
    if x.ndim == 4:
        if layout == "nchw":
            return x.flatten(2).transpose(1, 2)
        if layout == "nhwc":
            return x.flatten(1, 2)
        raise ValueError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    raise ValueError(
        f"cannot sample a layer output of shape {tuple(x.shape)}; "
        "expected (N, C), (N, tokens, C) or (N, C, H, W)"
    )


def _grid(x: torch.Tensor, layout: Layout) -> tuple[int, int]:
    """(H, W) of a 4-D output, (P, 1) of a token output."""
    if x.ndim == 4:
        return (x.shape[2], x.shape[3]) if layout == "nchw" else (x.shape[1], x.shape[2])
    return (x.shape[1], 1)


def _gather(xp: torch.Tensor, rows: np.ndarray, positions: np.ndarray) -> torch.Tensor:
    """``xp[rows, positions]`` as float32 (only the picked vectors are copied)."""
    device = xp.device
    r = torch.as_tensor(rows, dtype=torch.long).to(device, non_blocking=True)
    p = torch.as_tensor(positions, dtype=torch.long).to(device, non_blocking=True)
    return xp[r, p].float()


def _pick_kth(mask: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Column of the ``k[i]``-th True entry of every row of ``mask``."""
    counts = np.cumsum(mask, axis=1)
    return np.argmax(mask & (counts == (k + 1)[:, None]), axis=1)


def _capped_subset(
    allowed: np.ndarray, keys: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the (at most ``cap``) allowed columns with the smallest keys, in column order."""
    n, p = allowed.shape
    if allowed.all() and p <= cap:
        rows = np.repeat(np.arange(n), p)
        return rows, np.tile(np.arange(p), n)
    keyed = np.where(allowed, keys, np.inf)
    k = min(cap, p)
    chosen = np.argpartition(keyed, k - 1, axis=1)[:, :k] if k < p else np.tile(np.arange(p), (n, 1))
    keep = np.take_along_axis(np.isfinite(keyed), chosen, axis=1)
    chosen = np.where(keep, chosen, p)  # p sorts after every real column
    chosen.sort(axis=1)
    keep = chosen < p
    rows = np.repeat(np.arange(n), k).reshape(n, k)[keep]
    return rows, chosen[keep]


# --------------------------------------------------------------------------- samplers
def sample(
    x: torch.Tensor,
    sampling: str,
    *,
    sample_ids: np.ndarray,
    seed: int = 0,
    max_positions: int = 16,
    layout: Layout = "nchw",
    valid: torch.Tensor | np.ndarray | None = None,
    candidate: torch.Tensor | np.ndarray | None = None,
) -> Sampled:
    """Sample activation vectors from one batch of one layer.

    Parameters
    ----------
    x : Tensor
        The layer output for the batch, ``(N, C)``, ``(N, T, C)`` or 4-D.
    sampling : str
        One of :data:`SAMPLINGS` (see the module docstring).
    sample_ids : ndarray of shape (N,)
        Dataset row of every sample; with ``seed`` it fixes every random choice.
    seed : int
    max_positions : int
        Cap for ``all_positions`` / ``all_tokens``.
    layout : {'nchw', 'nhwc'}
        Layout of a 4-D output.
    valid, candidate : bool array of shape (N, T), optional
        Text only: non-padding tokens, and non-padding non-special tokens.
        Default: every token valid; candidates default to ``valid``.

    Returns
    -------
    Sampled
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; valid: {', '.join(SAMPLINGS)}")
    if max_positions < 1:
        raise ValueError(f"max_positions must be >= 1, got {max_positions}")
    sample_ids = np.asarray(sample_ids, dtype=np.int64)
    n = x.shape[0]
    if sample_ids.shape != (n,):
        raise ValueError(f"sample_ids must have shape ({n},), got {sample_ids.shape}")
    shape = tuple(int(s) for s in x.shape[1:])
    xp = layer_positions(x, layout)
    all_rows = np.arange(n, dtype=np.int64)

    if x.ndim == 2:  # nothing to choose: one vector per sample
        return Sampled(x.float(), np.full(n, -1, np.int32), all_rows, shape)

    if sampling in TEXT_SAMPLINGS:
        return _sample_text(xp, sampling, sample_ids, seed, max_positions, valid, candidate, shape)

    p = xp.shape[1]
    if sampling == "gap":
        if x.ndim == 4:
            dims = (2, 3) if layout == "nchw" else (1, 2)
        else:
            dims = (1,)
        vectors = x.mean(dim=dims, dtype=torch.float32)
        return Sampled(vectors, np.full(n, -1, np.int32), all_rows, shape)
    if sampling == "max_norm":
        xf = x if x.dtype == torch.float32 else x.float()
        if x.ndim == 4 and layout == "nchw":  # reduce over the channel axis in place: no transpose
            norms = xf.pow(2).sum(dim=1).flatten(1)  # (N, H*W), squared norms
        else:
            norms = layer_positions(xf, layout).pow(2).sum(dim=2)  # (N, P)
        positions = norms.argmax(dim=1).cpu().numpy()
        return Sampled(_gather(xp, all_rows, positions), positions.astype(np.int32), all_rows, shape)
    if sampling == "random_position":
        h, w = _grid(x, layout)
        u = uniforms(seed, sample_ids, 2, stream=_STREAM_POSITION)
        ph = np.minimum((u[:, 0] * h).astype(np.int64), h - 1)
        pw = np.minimum((u[:, 1] * w).astype(np.int64), w - 1)
        positions = ph * w + pw
        return Sampled(_gather(xp, all_rows, positions), positions.astype(np.int32), all_rows, shape)
    # all_positions
    if p <= max_positions:
        rows = np.repeat(all_rows, p)
        vectors = xp.reshape(n * p, xp.shape[2])
        return Sampled(vectors.float(), np.tile(np.arange(p, dtype=np.int32), n), rows, shape)
    keys = uniforms(seed, sample_ids, p, stream=_STREAM_SUBSET)
    rows, positions = _capped_subset(np.ones((n, p), dtype=bool), keys, max_positions)
    return Sampled(_gather(xp, rows, positions), positions.astype(np.int32), rows.astype(np.int64), shape)


def _as_bool_numpy(mask: torch.Tensor | np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if mask is None:
        return None
    m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    m = m.astype(bool)
    if m.shape != shape:
        raise ValueError(
            f"token mask has shape {m.shape} but the layer output has {shape[0]} samples "
            f"x {shape[1]} tokens; text sampling needs a (N, tokens, C) layer"
        )
    return m


def _sample_text(
    xp: torch.Tensor,
    sampling: str,
    sample_ids: np.ndarray,
    seed: int,
    max_positions: int,
    valid: torch.Tensor | np.ndarray | None,
    candidate: torch.Tensor | np.ndarray | None,
    shape: tuple[int, ...],
) -> Sampled:
    n, t = xp.shape[0], xp.shape[1]
    valid_np = _as_bool_numpy(valid, (n, t))
    if valid_np is None:
        valid_np = np.ones((n, t), dtype=bool)
    cand_np = _as_bool_numpy(candidate, (n, t))
    cand_np = valid_np if cand_np is None else (cand_np & valid_np)
    empty = ~valid_np.any(axis=1)
    if empty.any():
        raise ValueError(f"sample {int(sample_ids[np.argmax(empty)])} has no non-padding token")
    # sentences without a candidate (only special tokens) fall back to their valid tokens
    cand_np = np.where(cand_np.any(axis=1, keepdims=True), cand_np, valid_np)
    all_rows = np.arange(n, dtype=np.int64)

    if sampling == "cls":
        return Sampled(xp[:, 0].float(), np.zeros(n, np.int32), all_rows, shape)
    if sampling == "mean_tokens":
        m = torch.as_tensor(valid_np, device=xp.device).to(torch.float32)
        total = torch.einsum("ntc,nt->nc", xp.float(), m)
        vectors = total / m.sum(dim=1, keepdim=True)
        return Sampled(vectors, np.full(n, -1, np.int32), all_rows, shape)
    if sampling == "random_token":
        u = uniforms(seed, sample_ids, 1, stream=_STREAM_POSITION)[:, 0]
        counts = cand_np.sum(axis=1)
        k = np.minimum((u * counts).astype(np.int64), counts - 1)
        positions = _pick_kth(cand_np, k)
        return Sampled(_gather(xp, all_rows, positions), positions.astype(np.int32), all_rows, shape)
    # all_tokens
    keys = uniforms(seed, sample_ids, t, stream=_STREAM_SUBSET)
    rows, positions = _capped_subset(cand_np, keys, max_positions)
    return Sampled(_gather(xp, rows, positions), positions.astype(np.int32), rows.astype(np.int64), shape)

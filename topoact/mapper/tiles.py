"""Tile backends of the exact epsilon-graph search: numpy (BLAS) or torch (CPU or CUDA).

A tile is the block of squared distances between the points of one chunk and the
points of its candidate chunks, formed as ``|x|^2 + |y|^2 - 2 x.y`` in float32. A
backend only decides which pairs of a tile are *candidates* (float32 value within
``upper``) and which of them are *unsure* (above ``lower``, so within the rounding
bound of ``eps``); the shared code in :mod:`topoact.mapper.neighbors` recomputes
every unsure pair in float64 on the CPU. ``upper`` and ``lower`` come from a
rigorous bound that holds for any summation order, so every backend gives the same
graph as long as its float32 matrix product is true float32 (TF32 is turned off for
the torch product).

>>> from topoact.mapper.tiles import make_tiles
>>> make_tiles("cpu").name
'numpy'
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["TileBackend", "NumpyTiles", "TorchTiles", "make_tiles", "DEVICES"]

DEVICES = ("cpu", "cuda", "auto")


class TileBackend(Protocol):
    """What the epsilon-graph search needs from a backend."""

    name: str
    #: Whether tiles may run from several worker threads at once.
    threaded: bool

    def bind(self, rows, sqnorm: np.ndarray) -> None:
        """Attach the data: ``rows(positions)`` gives float32 rows in layout order,
        ``sqnorm`` their float64 squared norms."""

    def candidates(
        self, a0: int, a1: int, col_pos: np.ndarray, upper: float, lower: float, diagonal: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs (layout rows ``a0:a1`` x positions ``col_pos``) with float32 d^2 <= ``upper``.

        With ``diagonal`` > 0 the first ``diagonal`` columns are the rows themselves
        and only pairs above the diagonal are kept. Returns row offsets (sorted),
        column offsets and a mask of the pairs with d^2 > ``lower``.
        """


class NumpyTiles:
    """Tiles with numpy's float32 matrix product (BLAS); the rows are gathered per tile, X is not copied."""

    name = "numpy"
    threaded = True

    def __init__(self) -> None:
        self._rows = None
        self._sqnorm = None

    def bind(self, rows, sqnorm: np.ndarray) -> None:
        self._rows, self._sqnorm = rows, sqnorm

    def candidates(self, a0, a1, col_pos, upper, lower, diagonal):
        rows_x = self._rows(np.arange(a0, a1))
        cols_x = self._rows(col_pos)
        d2 = rows_x @ cols_x.T
        d2 *= -2.0
        d2 += self._sqnorm[a0:a1].astype(np.float32)[:, None]
        d2 += self._sqnorm[col_pos].astype(np.float32)[None, :]
        maybe = d2 <= np.float32(upper)
        if diagonal:
            maybe[:, :diagonal] &= np.triu(np.ones((a1 - a0, diagonal), dtype=bool), k=1)
        ri, ci = np.nonzero(maybe)  # row-major: ri is sorted
        return ri, ci, d2[ri, ci] > np.float32(lower)


class TorchTiles:
    """Tiles with torch's float32 matrix product on ``device`` ("cpu", "cuda", "cuda:1" ...).

    The rows are uploaded once, in layout order (one float32 copy of X on the
    device); each tile is a gather, a product and a mask there, and only the
    candidate pairs come back.
    """

    name = "torch"

    def __init__(self, device: str = "cuda") -> None:
        import torch

        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} asked for CUDA, but torch sees no CUDA device "
                f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use device='cpu' or 'auto'"
            )
        self.threaded = self.device.type == "cpu"
        self._x = None
        self._sqnorm = None

    def bind(self, rows, sqnorm: np.ndarray) -> None:
        import torch

        n = sqnorm.shape[0]
        first = rows(np.arange(min(n, 1)))
        self._x = torch.empty((n, first.shape[1]), dtype=torch.float32, device=self.device)
        for s in range(0, n, 65536):
            block = rows(np.arange(s, min(n, s + 65536)))
            self._x[s : s + block.shape[0]] = torch.from_numpy(np.ascontiguousarray(block)).to(self.device)
        self._sqnorm = torch.from_numpy(sqnorm.astype(np.float32)).to(self.device)

    def candidates(self, a0, a1, col_pos, upper, lower, diagonal):
        import torch

        cols = torch.from_numpy(np.asarray(col_pos, dtype=np.int64)).to(self.device)
        rows_x = self._x[a0:a1]
        cols_x = self._x.index_select(0, cols)
        if self.device.type == "cuda":
            with _true_float32(torch):  # one thread drives the device: the global switch is safe
                d2 = torch.addmm(self._sqnorm[cols][None, :], rows_x, cols_x.T, beta=1.0, alpha=-2.0)
        else:
            d2 = torch.addmm(self._sqnorm[cols][None, :], rows_x, cols_x.T, beta=1.0, alpha=-2.0)
        d2 += self._sqnorm[a0:a1][:, None]
        maybe = d2 <= upper
        if diagonal:
            maybe[:, :diagonal] &= torch.ones((a1 - a0, diagonal), dtype=torch.bool, device=self.device).triu(1)
        ri, ci = torch.nonzero(maybe, as_tuple=True)  # row-major order, as numpy's
        unsure = d2[ri, ci] > lower
        return ri.cpu().numpy(), ci.cpu().numpy(), unsure.cpu().numpy()


class _true_float32:
    """Context: float32 products in full float32 (no TF32), restoring the setting after."""

    def __init__(self, torch) -> None:
        self.torch = torch

    def __enter__(self):
        self.previous = self.torch.get_float32_matmul_precision()
        self.torch.set_float32_matmul_precision("highest")

    def __exit__(self, *exc):
        self.torch.set_float32_matmul_precision(self.previous)


def make_tiles(device="cpu") -> TileBackend:
    """The backend for ``device``: "cpu" (numpy), "cuda" / "cuda:N" (torch), "auto"
    (CUDA when torch sees a device, else numpy), or a backend object (returned as is).

    Raises
    ------
    ValueError
        An unknown device, or CUDA asked for where there is none.
    """
    if hasattr(device, "candidates") and hasattr(device, "bind"):
        return device
    if device == "cpu":
        return NumpyTiles()
    if device == "auto":
        try:
            import torch
        except ImportError:
            return NumpyTiles()
        return TorchTiles("cuda") if torch.cuda.is_available() else NumpyTiles()
    if isinstance(device, str) and (device == "cuda" or device.startswith("cuda:")):
        return TorchTiles(device)
    raise ValueError(f"unknown device {device!r}; valid: 'cpu', 'cuda', 'cuda:N', 'auto' or a tile backend object")

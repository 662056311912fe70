"""Covers of the lens space: overlapping intervals (1-D) or boxes (2-D).

A fitted cover describes its elements as axis-aligned boxes ``[lower, upper]``
(closed on both sides) and turns lens values into a sparse membership matrix of
shape ``(n_samples, n_elements)``; members of an element are sorted by row.

:class:`UniformCover` follows KeplerMapper's ``Cover(n_cubes, perc_overlap)``
arithmetic exactly, so the same parameters select the same points.
"""

from __future__ import annotations

import itertools
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["UniformCover", "BalancedCover", "make_cover", "COVERS"]


class _BoxCover(TransformerMixin, BaseEstimator):
    """Shared machinery: per-dimension intervals, their product, membership."""

    _parameter_constraints: dict = {
        "n_intervals": [Interval(Integral, 1, None, closed="left")],
        "overlap": [Interval(Real, 0.0, 1.0, closed="left")],
    }

    def __init__(self, n_intervals: int = 10, overlap: float = 0.3):
        self.n_intervals = n_intervals
        self.overlap = overlap

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Place the intervals on the range of the lens values ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_lens_dims)
            Lens values (1 to 3 columns).
        y : ignored

        Returns
        -------
        self
        """
        lens = validate_data(self, X, dtype=np.float64, ensure_2d=True)
        if lens.shape[1] > 3:
            raise ValueError(f"covers support 1 to 3 lens dimensions, got {lens.shape[1]}")
        per_dim = []
        for d in range(lens.shape[1]):
            low, high = self._intervals_1d(lens[:, d])
            # The cover must cover: with overlap 0, KeplerMapper's arithmetic can put the
            # first interval's start an ulp above the minimum (and the last end below
            # the maximum), silently dropping those points.
            low, high = low.copy(), high.copy()
            low[0] = min(low[0], lens[:, d].min())
            high[-1] = max(high[-1], lens[:, d].max())
            per_dim.append((low, high))
        self.intervals_ = per_dim
        grid = list(itertools.product(*[range(len(lo)) for lo, _ in per_dim]))
        self.element_grid_ = np.array(grid, dtype=np.int64).reshape(len(grid), lens.shape[1])
        self.lower_ = np.array(
            [[per_dim[d][0][k] for d, k in enumerate(cell)] for cell in grid], dtype=np.float64
        ).reshape(len(grid), lens.shape[1])
        self.upper_ = np.array(
            [[per_dim[d][1][k] for d, k in enumerate(cell)] for cell in grid], dtype=np.float64
        ).reshape(len(grid), lens.shape[1])
        return self

    @property
    def n_elements_(self) -> int:
        """Number of cover elements (intervals or boxes)."""
        check_is_fitted(self, "lower_")
        return int(self.lower_.shape[0])

    def transform(self, X) -> sp.csc_matrix:
        """Membership of each lens value in each element.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_lens_dims)

        Returns
        -------
        scipy.sparse.csc_matrix of shape (n_samples, n_elements_), bool
            Entry ``(i, e)`` is True when ``lower_[e] <= X[i] <= upper_[e]`` in every
            dimension. Row indices within each column are sorted.
        """
        check_is_fitted(self, "lower_")
        lens = validate_data(self, X, dtype=np.float64, reset=False)
        per_dim_masks = []
        for d, (low, high) in enumerate(self.intervals_):
            values = lens[:, d]
            per_dim_masks.append([(values >= lo) & (values <= hi) for lo, hi in zip(low, high)])
        columns: list[np.ndarray] = []
        for cell in self.element_grid_:
            mask = per_dim_masks[0][cell[0]]
            for d in range(1, len(cell)):
                mask = mask & per_dim_masks[d][cell[d]]
            columns.append(np.flatnonzero(mask))
        indptr = np.concatenate([[0], np.cumsum([c.size for c in columns])]).astype(np.int64)
        indices = np.concatenate(columns).astype(np.int64) if columns else np.empty(0, np.int64)
        return sp.csc_matrix(
            (np.ones(indices.size, dtype=bool), indices, indptr),
            shape=(lens.shape[0], len(columns)),
        )

    def _intervals_1d(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        tags.input_tags.sparse = False
        return tags


class UniformCover(_BoxCover):
    """Equal-width overlapping intervals per lens dimension (KeplerMapper's convention).

    With range ``r = max - min``, interval centres are ``linspace(min + r/(2n),
    max - r/(2n), n)`` and each interval has half-width ``r / (2 n (1 - overlap))``,
    so neighbouring intervals share the fraction ``overlap`` of their width.

    Parameters
    ----------
    n_intervals : int, default=10
        Intervals per lens dimension (KeplerMapper's ``n_cubes``).
    overlap : float in [0, 1), default=0.3
        Fraction of an interval shared with its neighbour (``perc_overlap``).

    Notes
    -----
    A lens dimension whose values are all equal gets a single interval holding every
    point (KeplerMapper would make ``n_intervals`` identical ones). The first and last
    intervals always reach the minimum and maximum; KeplerMapper's arithmetic can miss
    them by an ulp when ``overlap=0`` and drop those points.
    """

    def _intervals_1d(self, values):
        low, high = float(values.min()), float(values.max())
        if high == low:
            return np.array([low]), np.array([high])
        n = self.n_intervals
        bounds_low, bounds_high = np.float64(low), np.float64(high)
        span = bounds_high - bounds_low
        # Same operations, in the same order, as kmapper.Cover.fit / transform_single.
        inner_range = ((n - 1) / n) * span
        inset = (span - inner_range) / 2
        radius = span / (2 * n * (1 - self.overlap))
        centers = np.linspace(bounds_low + inset, bounds_high - inset, num=n)
        return centers - radius, centers + radius


class BalancedCover(_BoxCover):
    """Intervals holding equal numbers of points (quantiles), widened to overlap.

    Base interval ``k`` spans the ``k/n`` to ``(k+1)/n`` quantiles of the lens; each
    is widened on both sides by ``width * overlap / (2 (1 - overlap))`` so that it
    shares about the fraction ``overlap`` of its width with each neighbour. Dense
    regions of the lens get narrow intervals, sparse regions wide ones.

    Parameters
    ----------
    n_intervals : int, default=10
        Intervals per lens dimension.
    overlap : float in [0, 1), default=0.3
        Widening, as the fraction of the widened interval that overlaps.

    Notes
    -----
    Repeated lens values can make several quantiles equal; identical intervals are
    merged, so there may be fewer than ``n_intervals``.
    """

    def _intervals_1d(self, values):
        edges = np.quantile(values, np.linspace(0.0, 1.0, self.n_intervals + 1))
        low, high = edges[:-1], edges[1:]
        pad = (high - low) * self.overlap / (2.0 * (1.0 - self.overlap))
        low, high = low - pad, high + pad
        pairs = np.unique(np.stack([low, high], axis=1), axis=0)
        return pairs[:, 0], pairs[:, 1]


COVERS: dict[str, type[_BoxCover]] = {"uniform": UniformCover, "balanced": BalancedCover}


def make_cover(cover, n_intervals: int, overlap: float):
    """Return a cover object for a name in :data:`COVERS` or pass an object through."""
    if isinstance(cover, str):
        if cover not in COVERS:
            raise ValueError(f"unknown cover {cover!r}; valid covers: {', '.join(COVERS)}")
        return COVERS[cover](n_intervals=n_intervals, overlap=overlap)
    if not (hasattr(cover, "fit") and hasattr(cover, "transform")):
        raise ValueError(
            f"cover must be one of {', '.join(COVERS)} or an object with fit/transform, "
            f"got {type(cover).__name__}"
        )
    return cover

"""Lenses (filter functions): maps from activation vectors to 1 or 2 numbers.

Every lens is a scikit-learn transformer returning an array of shape
``(n_samples, n_lens_dims)``. :func:`make_lens` turns the names used by the CLI and
the dashboard (``"l2norm"``, ``"pca2"``, ...), arrays, callables and lists of those
(stacked into a 2-D lens) into lens objects.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.decomposition import PCA
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import KernelDensity, NearestNeighbors
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = [
    "NormLens",
    "PCALens",
    "KNNDistanceLens",
    "DensityLens",
    "EccentricityLens",
    "ArrayLens",
    "FunctionLens",
    "StackedLens",
    "LENSES",
    "make_lens",
]


class _Lens(TransformerMixin, BaseEstimator):
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags


class NormLens(_Lens):
    """The norm of each vector: TopoAct's lens (``ord=2``) or the L1 norm (``ord=1``).

    Parameters
    ----------
    ord : {1, 2}, default=2
        Which norm.
    """

    _parameter_constraints: dict = {"ord": [Interval(Integral, 1, 2, closed="both")]}

    def __init__(self, ord: int = 2):
        self.ord = ord

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check ``X``; the norm needs no fitting. Returns self."""
        validate_data(self, X)
        return self

    def transform(self, X):
        """Norm of each row, shape ``(n_samples, 1)``."""
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, reset=False)
        if self.ord == 2:
            values = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
        else:
            values = np.abs(X).sum(axis=1, dtype=np.float64)
        return values.reshape(-1, 1)


class PCALens(_Lens):
    """Projection on the first principal components.

    Parameters
    ----------
    n_components : {1, 2}, default=1
    random_state : int, default=0
        Seed of the randomized solver, used on large inputs.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, 3, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(self, n_components: int = 1, random_state: int = 0):
        self.n_components = n_components
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the principal axes. Returns self."""
        X = validate_data(self, X)
        if X.shape[0] < 2:
            raise ValueError(f"the PCA lens needs at least 2 samples, got n_samples = {X.shape[0]}")
        n_components = min(self.n_components, X.shape[1], X.shape[0])
        self.pca_ = PCA(n_components=n_components, random_state=self.random_state).fit(X)
        return self

    def transform(self, X):
        """Coordinates on the principal axes, shape ``(n_samples, n_components)``."""
        check_is_fitted(self, "pca_")
        X = validate_data(self, X, reset=False)
        return self.pca_.transform(X).astype(np.float64)


class KNNDistanceLens(_Lens):
    """Distance to the k-th nearest neighbour (large in sparse regions, outliers).

    A query point counts as its own nearest neighbour (at distance 0) when it is
    one of the fitted points, so on the fitted data this is the distance to the
    k-th *other* point; for new points it is the distance to the (k+1)-th nearest
    fitted point.

    Parameters
    ----------
    k : int, default=5
    metric : str, default="euclidean"
    """

    _parameter_constraints: dict = {
        "k": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions({"euclidean", "cosine", "manhattan"})],
    }

    def __init__(self, k: int = 5, metric: str = "euclidean"):
        self.k = k
        self.metric = metric

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Index the points. Returns self."""
        X = validate_data(self, X)
        if X.shape[0] <= self.k:
            raise ValueError(
                f"the knn_distance lens with k={self.k} needs more than {self.k} samples, "
                f"got n_samples = {X.shape[0]}"
            )
        self.index_ = NearestNeighbors(n_neighbors=self.k + 1, metric=self.metric).fit(X)
        return self

    def transform(self, X):
        """Distance of each row to its k-th nearest neighbour, shape ``(n, 1)``."""
        check_is_fitted(self, "index_")
        X = validate_data(self, X, reset=False)
        distances, _ = self.index_.kneighbors(X, n_neighbors=self.k + 1)
        return distances[:, -1:].astype(np.float64)


class DensityLens(_Lens):
    """Log of a Gaussian kernel density estimate (high in dense regions).

    Parameters
    ----------
    bandwidth : float or {"scott", "silverman"}, default="scott"
    """

    _parameter_constraints: dict = {
        "bandwidth": [Interval(Real, 0, None, closed="neither"), StrOptions({"scott", "silverman"})],
    }

    def __init__(self, bandwidth: float | str = "scott"):
        self.bandwidth = bandwidth

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the kernel density. Returns self."""
        X = validate_data(self, X)
        self.kde_ = KernelDensity(kernel="gaussian", bandwidth=self.bandwidth).fit(X)
        return self

    def transform(self, X):
        """Log-density at each row, shape ``(n_samples, 1)``."""
        check_is_fitted(self, "kde_")
        X = validate_data(self, X, reset=False)
        return self.kde_.score_samples(X).reshape(-1, 1).astype(np.float64)


class EccentricityLens(_Lens):
    """Mean distance to the fitted points, ``(mean_j d(x, x_j)^p)^(1/p)`` (high at the edges).

    Parameters
    ----------
    p : float >= 1, default=1
    metric : str, default="euclidean"
    """

    _parameter_constraints: dict = {
        "p": [Interval(Real, 1, None, closed="left")],
        "metric": [StrOptions({"euclidean", "cosine", "manhattan"})],
    }

    def __init__(self, p: float = 1.0, metric: str = "euclidean"):
        self.p = p
        self.metric = metric

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Remember the points. Returns self."""
        self.points_ = validate_data(self, X)
        return self

    def transform(self, X):
        """Eccentricity of each row, shape ``(n_samples, 1)``."""
        check_is_fitted(self, "points_")
        X = validate_data(self, X, reset=False)
        values = np.concatenate(
            [
                np.mean(chunk**self.p, axis=1) ** (1.0 / self.p)
                for chunk in pairwise_distances_chunked(X, self.points_, metric=self.metric)
            ]
        )
        return values.reshape(-1, 1).astype(np.float64)


class ArrayLens(_Lens):
    """Lens values given by the user, one row per sample.

    Parameters
    ----------
    values : array-like of shape (n_samples,) or (n_samples, n_lens_dims)
    """

    def __init__(self, values=None):
        self.values = values

    def fit(self, X, y=None):
        """Check that the values match ``X`` row for row. Returns self."""
        values = _as_lens_array(self.values, "values")
        if values.shape[0] != len(X):
            raise ValueError(f"lens array has {values.shape[0]} rows but X has {len(X)}")
        self.values_ = values
        return self

    def transform(self, X):
        """The given values (only for the data the lens was fit on)."""
        check_is_fitted(self, "values_")
        if len(X) != self.values_.shape[0]:
            raise ValueError("an array lens only describes the data it was given with")
        return self.values_


class FunctionLens(_Lens):
    """Lens computed by a user function ``func(X) -> array of shape (n,) or (n, d)``.

    Parameters
    ----------
    func : callable
    """

    def __init__(self, func: Callable | None = None):
        self.func = func

    def fit(self, X, y=None):
        """Check the function. Returns self."""
        if not callable(self.func):
            raise ValueError("FunctionLens needs a callable func(X) -> array")
        self.fitted_ = True
        return self

    def transform(self, X):
        """``func(X)`` as a 2-D float array."""
        check_is_fitted(self, "fitted_")
        values = _as_lens_array(self.func(X), f"lens function {getattr(self.func, '__name__', '')}")
        if values.shape[0] != len(X):
            raise ValueError(f"lens function returned {values.shape[0]} rows for {len(X)} samples")
        return values


class StackedLens(_Lens):
    """Several lenses side by side, e.g. ``[NormLens(), DensityLens()]`` for a 2-D lens.

    Parameters
    ----------
    lenses : list of lens objects
    """

    def __init__(self, lenses: list | None = None):
        self.lenses = lenses

    def fit(self, X, y=None):
        """Fit every lens. Returns self."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit every lens and stack their values."""
        self.lenses_ = [make_lens(lens) for lens in (self.lenses or [])]
        if not self.lenses_:
            raise ValueError("StackedLens needs at least one lens")
        return np.hstack([lens.fit_transform(X) for lens in self.lenses_])

    def transform(self, X):
        """Stacked values of the fitted lenses."""
        check_is_fitted(self, "lenses_")
        return np.hstack([lens.transform(X) for lens in self.lenses_])


LENSES: dict[str, Callable[[], _Lens]] = {
    "l2norm": lambda: NormLens(ord=2),
    "l1norm": lambda: NormLens(ord=1),
    "pca": lambda: PCALens(n_components=1),
    "pca2": lambda: PCALens(n_components=2),
    "knn_distance": lambda: KNNDistanceLens(k=5),
    "density": lambda: DensityLens(),
    "eccentricity": lambda: EccentricityLens(),
}


def make_lens(spec) -> _Lens:
    """Return a lens object for a name, an array, a callable, a list or a lens object.

    Parameters
    ----------
    spec : str, ndarray, callable, list or transformer
        A name from :data:`LENSES`; an array of lens values; a function
        ``func(X) -> values``; a list of any of these (stacked); or an object with
        ``fit_transform``.
    """
    if isinstance(spec, str):
        if spec not in LENSES:
            raise ValueError(f"unknown lens {spec!r}; valid lenses: {', '.join(LENSES)}")
        return LENSES[spec]()
    if isinstance(spec, np.ndarray):
        return ArrayLens(values=spec)
    if isinstance(spec, (list, tuple)):
        return StackedLens(lenses=list(spec))
    if hasattr(spec, "fit_transform"):
        return spec
    if callable(spec):
        return FunctionLens(func=spec)
    raise ValueError(
        f"lens must be a name ({', '.join(LENSES)}), an array, a callable, a list or a "
        f"transformer; got {type(spec).__name__}"
    )


def _as_lens_array(values, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"{what} must be 1-D or 2-D, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} contains NaN or Inf")
    return array

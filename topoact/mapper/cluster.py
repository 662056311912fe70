"""Clustering inside cover elements: DBSCAN on a shared epsilon-graph, or any clusterer.

:func:`dbscan_labels` is DBSCAN given the epsilon-neighbour graph of the points:
core points have at least ``min_samples`` points (themselves included) within
``eps``; clusters are the connected components of core points; a border point joins
a cluster one of its core neighbours belongs to. Clusters are numbered in the order
of their smallest core point, as scikit-learn numbers them.

Border points next to two clusters are the one choice DBSCAN leaves open.
``border="first"`` resolves it as scikit-learn does (the cluster found first, which
depends on the row order); ``border="nearest"`` (the default) gives the point to the
cluster of its nearest core neighbour, which does not depend on the row order.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

try:  # scipy's compiled undirected traversal (private; the public function is the fallback)
    from scipy.sparse.csgraph._traversal import _connected_components_undirected as _undirected_components
except ImportError:  # pragma: no cover - another scipy
    _undirected_components = None
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.cluster import DBSCAN as SklearnDBSCAN
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from topoact.mapper.pruned import assign_border_points, pruned_dbscan
from topoact.mapper.scale import ADAPTIVE_FACTOR, EPS_RULES, hausdorff_scale

__all__ = ["DBSCAN", "dbscan", "dbscan_labels", "dbscan_graph_labels", "dbscan_rows", "choose_eps", "EPS_RULES"]


def dbscan_labels(
    n: int,
    first: np.ndarray,
    second: np.ndarray,
    min_samples: int,
    *,
    border: str = "nearest",
    points: np.ndarray | None = None,
    point_rows: np.ndarray | None = None,
    metric: str = "euclidean",
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """DBSCAN labels from the epsilon-neighbour edges of ``n`` points.

    Parameters
    ----------
    n : int
        Number of points (vertices ``0 .. n-1``).
    first, second : ndarray of int
        Both ends of each edge (pairs within eps), each unordered pair once, no
        self pairs.
    min_samples : int
        Points (the point itself included) a core point needs within eps.
    border : {"nearest", "first"}
        How a border point next to several clusters is assigned (see module notes).
    points : ndarray of shape (n_rows, n_features), optional
        The data; needed for ``border="nearest"`` when such a border point exists.
    point_rows : ndarray of shape (n,), optional
        Data row of each vertex (default: row ``i``). Clusters are numbered by
        their smallest core row.
    metric : {"euclidean", "cosine"}
    weights : ndarray of shape (n,), optional
        How many times each point counts (a bootstrap resample's multiplicities);
        a point is core when the weights within eps, its own included, sum to at
        least ``min_samples`` (scikit-learn's ``sample_weight``).

    Returns
    -------
    ndarray of int64, shape (n,)
        Cluster number of each point, ``-1`` for noise.
    """
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int32)
    if first.size and not np.all(first[1:] >= first[:-1]):
        order = np.argsort(first, kind="stable")
        first, second = first[order], second[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(first, minlength=n), out=indptr[1:])
    graph = sp.csr_matrix((np.ones(first.size, dtype=np.int8), second, indptr), shape=(n, n))
    return dbscan_graph_labels(
        graph, min_samples, border=border, points=points, point_rows=point_rows, metric=metric, weights=weights,
    )


def _components(graph: sp.csr_matrix) -> np.ndarray:
    """Connected components of an undirected graph given one way (each pair in one row)."""
    transposed = graph.tocsc()  # the in-edges of every vertex, as CSR arrays of the transpose
    if _undirected_components is not None:
        labels = np.empty(graph.shape[0], dtype=np.int32)
        # scipy's compiled traversal over out- and in-edges; skips the public function's
        # float64 copy of the data and its second transpose.
        _undirected_components(
            graph.indices.astype(np.int32, copy=False), graph.indptr.astype(np.int32, copy=False),
            transposed.indices.astype(np.int32, copy=False), transposed.indptr.astype(np.int32, copy=False),
            labels,
        )
        return labels
    return connected_components(graph, directed=True, connection="weak")[1]


def dbscan_graph_labels(
    graph: sp.csr_matrix,
    min_samples: int,
    *,
    border: str = "nearest",
    points: np.ndarray | None = None,
    point_rows: np.ndarray | None = None,
    metric: str = "euclidean",
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """DBSCAN labels from the epsilon-neighbour graph as a one-way CSR matrix.

    ``graph[i, j]`` is stored for each pair within eps once (either way round), no
    self pairs. The other parameters are those of :func:`dbscan_labels`.
    """
    n = graph.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    rows = np.arange(n) if point_rows is None else np.asarray(point_rows)
    out_degree = np.diff(graph.indptr)
    if weights is None:
        degree = out_degree + np.bincount(graph.indices, minlength=n) + 1
    else:
        weights = np.asarray(weights, dtype=np.float64)
        ones = graph.astype(np.float64)
        degree = ones @ weights + ones.T @ weights + weights
    is_core = degree >= min_samples
    if not is_core.any():
        return labels
    core = np.flatnonzero(is_core)
    core_graph = graph if core.size == n else graph[core][:, core]
    component = _components(core_graph)
    # Number clusters by their smallest core row, as scikit-learn does.
    n_components = int(component.max()) + 1
    smallest = np.full(n_components, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, component, rows[core])
    rank = np.empty(n_components, dtype=np.int64)
    rank[np.argsort(smallest)] = np.arange(n_components)
    labels[core] = rank[component]
    if core.size == n:
        return labels

    # Border points: not core, next to a core point (edges stored either way round).
    non_core = np.flatnonzero(~is_core)
    out_edges = graph[non_core]  # CSR rows: edges stored in the non-core point's row
    in_edges = graph.tocsc()[:, non_core]  # CSC columns: edges stored in another point's row
    point = np.concatenate([
        np.repeat(non_core, np.diff(out_edges.indptr)), np.repeat(non_core, np.diff(in_edges.indptr)),
    ])
    neighbour = np.concatenate([out_edges.indices, in_edges.indices]).astype(np.int64)
    towards_core = is_core[neighbour]
    return assign_border_points(
        labels, point[towards_core], neighbour[towards_core], border=border, points=points,
        point_rows=rows, metric=metric,
    )


#: DBSCAN of the points ``X[rows]`` on their own (one cover element clustered alone): the
#: pruned exact search, :func:`topoact.mapper.pruned.pruned_dbscan`, under the name the
#: engines and the estimator use.
dbscan_rows = pruned_dbscan


def choose_eps(
    X: np.ndarray,
    rule: str,
    min_samples: int,
    *,
    metric: str = "euclidean",
    quantile: float = 0.9,
    sample_size: int = 2000,
    random_state: int = 0,
) -> float:
    """Pick DBSCAN's eps from the distances to the k-th nearest neighbour.

    ``k = min_samples - 1`` (other points a core point needs). The distances are
    measured from a seeded sample of at most ``sample_size`` points to all points.

    Parameters
    ----------
    rule : {"auto", "knee", "hausdorff", "adaptive"}
        ``"auto"``: the ``quantile`` of those distances (at ``eps`` equal to it, about
        that share of points is core). ``"knee"``: TopoBERT's rule, 0.75 times the
        knee of the sorted distances (the point farthest below the chord).
        ``"hausdorff"``: Carrière–Michel–Oudot's subsampled Hausdorff distance
        (:func:`topoact.mapper.scale.hausdorff_scale`). ``"adaptive"``: three times
        the median of those distances (inside a Mapper, computed per cover element,
        see :func:`topoact.mapper.scale.element_scales`).
    """
    if rule not in EPS_RULES:
        raise ValueError(f"unknown eps rule {rule!r}; valid: a positive number or one of {EPS_RULES}")
    if rule == "hausdorff":
        return hausdorff_scale(X, metric=metric, sample_size=sample_size, random_state=random_state)
    n = X.shape[0]
    k = max(1, min(min_samples - 1, n - 1))
    if n < 2:
        return float(np.finfo(np.float64).tiny)
    rng = np.random.default_rng(random_state)
    queries = np.sort(rng.choice(n, size=min(n, sample_size), replace=False))
    index = NearestNeighbors(n_neighbors=k + 1, metric=metric).fit(X)
    distances, _ = index.kneighbors(X[queries], n_neighbors=k + 1)
    kth = np.sort(distances[:, k])
    if rule == "auto":
        eps = float(np.quantile(kth, quantile))
    elif rule == "adaptive":
        eps = ADAPTIVE_FACTOR * float(np.median(kth))
    else:
        x = np.linspace(0.0, 1.0, kth.size)
        span = kth[-1] - kth[0]
        y = (kth - kth[0]) / span if span > 0 else np.zeros_like(kth)
        eps = 0.75 * float(kth[int(np.argmax(x - y))])
    # Duplicated points give zero distances; eps must stay positive (and then joins
    # exactly the duplicates).
    return max(eps, float(np.finfo(np.float64).tiny))


class DBSCAN(ClusterMixin, BaseEstimator):
    """scikit-learn's DBSCAN, with topoact's exact, pruned, BLAS-tiled neighbour search.

    A drop-in for :class:`sklearn.cluster.DBSCAN`: same parameters, defaults,
    attributes and results. The fast path runs for Euclidean (or Minkowski with
    ``p=2``) and cosine distance on dense arrays with the default ``algorithm`` and
    ``leaf_size`` and no ``sample_weight``; there the labels equal scikit-learn's
    exactly with ``border="first"`` (the default). Everything else (other metrics,
    callables, ``metric_params``, ``"precomputed"``, sparse input, ``sample_weight``,
    a chosen ``algorithm``/``leaf_size``) is passed to scikit-learn's DBSCAN unchanged.
    Inside :class:`~topoact.mapper.Mapper` the fast path's neighbour graph is computed
    once for all cover elements.

    Parameters
    ----------
    eps : float or {"auto", "knee", "hausdorff", "adaptive"}, default=0.5
        Neighbourhood radius, or a rule to choose it from the data (see :func:`choose_eps`).
    min_samples : int, default=5
        Points (itself included) within eps that make a point core.
    metric : str or callable, default="euclidean"
        As for scikit-learn; ``"euclidean"``, ``"cosine"`` and ``"minkowski"`` with
        ``p`` in (None, 2) take the fast path.
    metric_params : dict or None, default=None
    algorithm : {"auto", "ball_tree", "kd_tree", "brute"}, default="auto"
    leaf_size : int, default=30
    p : float or None, default=None
        Minkowski power.
    n_jobs : int or None
        Threads (fast path) or scikit-learn's jobs; results do not depend on it.
    eps_quantile : float in (0, 1], default=0.9
        Quantile used by ``eps="auto"``.
    border : {"first", "nearest"}, default="first"
        Border points next to two clusters: scikit-learn's rule (the cluster found
        first) or the cluster of the nearest core neighbour (independent of the row
        order). Only the fast path offers ``"nearest"``.
    random_state : int, default=0
        Seed for the eps sample and the search's pivots (neither changes results
        for a fixed eps).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
    core_sample_indices_ : ndarray
    components_ : ndarray of shape (n_core_samples, n_features)
    eps_ : float
        The eps actually used.
    """

    _parameter_constraints: dict = {
        **SklearnDBSCAN._parameter_constraints,
        "eps": [Interval(Real, 0.0, None, closed="neither"), StrOptions(set(EPS_RULES))],
        "eps_quantile": [Interval(Real, 0.0, 1.0, closed="right")],
        "border": [StrOptions({"nearest", "first"})],
        "random_state": [Integral],
    }

    def __init__(
        self,
        eps: float | str = 0.5,
        *,
        min_samples: int = 5,
        metric="euclidean",
        metric_params: dict | None = None,
        algorithm: str = "auto",
        leaf_size: int = 30,
        p: float | None = None,
        n_jobs: int | None = None,
        eps_quantile: float = 0.9,
        border: str = "first",
        random_state: int = 0,
    ):
        self.eps = eps
        self.min_samples = min_samples
        self.metric = metric
        self.metric_params = metric_params
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.p = p
        self.n_jobs = n_jobs
        self.eps_quantile = eps_quantile
        self.border = border
        self.random_state = random_state

    @property
    def fast_metric(self) -> str | None:
        """The metric the fast path computes (``"euclidean"``/``"cosine"``), or None
        when these parameters are scikit-learn's business (then Mapper clusters each
        cover element with this estimator on its own)."""
        if self.metric_params is not None or self.algorithm != "auto" or self.leaf_size != 30:
            return None
        if not isinstance(self.metric, str):
            return None
        if self.metric == "cosine" and self.p is None:
            return "cosine"
        if self.metric in ("euclidean", "minkowski", "l2") and self.p in (None, 2):
            return "euclidean"
        return None

    def resolve_eps(self, X) -> float:
        """The eps to use on ``X``: the given number, or the rule's choice."""
        if isinstance(self.eps, str):
            return choose_eps(
                X,
                self.eps,
                self.min_samples,
                metric=self.fast_metric or self.metric,
                quantile=self.eps_quantile,
                random_state=self.random_state,
            )
        return float(self.eps)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Cluster ``X`` (features, or distances with ``metric="precomputed"``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or (n_samples, n_samples)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each sample (scikit-learn's meaning); handled by scikit-learn.

        Returns
        -------
        self
        """
        X = validate_data(self, X, accept_sparse="csr")
        metric = self.fast_metric
        if metric is None or sample_weight is not None or sp.issparse(X):
            self.eps_ = self.resolve_eps(X)
            theirs = SklearnDBSCAN(
                eps=self.eps_, min_samples=self.min_samples, metric=self.metric,
                metric_params=self.metric_params, algorithm=self.algorithm, leaf_size=self.leaf_size,
                p=self.p, n_jobs=self.n_jobs,
            ).fit(X, sample_weight=sample_weight)
            self.labels_ = theirs.labels_
            self.core_sample_indices_ = theirs.core_sample_indices_
            self.components_ = theirs.components_
            return self
        data = X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)
        if not np.all(np.isfinite(data)):
            raise ValueError("Input X contains NaN or infinity.")
        self.eps_ = self.resolve_eps(data)
        self.labels_, is_core = dbscan_rows(
            data, None, self.eps_, self.min_samples, metric=metric, border=self.border,
            n_jobs=self.n_jobs, random_state=self.random_state,
        )
        self.core_sample_indices_ = np.flatnonzero(is_core)
        if self.core_sample_indices_.size:
            self.components_ = X[self.core_sample_indices_].copy()
        else:
            self.components_ = np.empty((0, X.shape[1]))
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Cluster ``X`` and return the labels (see :meth:`fit`)."""
        self.fit(X, sample_weight=sample_weight)
        return self.labels_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.metric == "precomputed"
        tags.input_tags.sparse = True
        return tags


def dbscan(
    X,
    eps: float | str = 0.5,
    *,
    min_samples: int = 5,
    metric="minkowski",
    metric_params: dict | None = None,
    algorithm: str = "auto",
    leaf_size: int = 30,
    p: float | None = 2,
    sample_weight=None,
    n_jobs: int | None = None,
):
    """DBSCAN as a function, like :func:`sklearn.cluster.dbscan` (see :class:`DBSCAN`).

    Returns
    -------
    core_samples : ndarray of shape (n_core_samples,)
        Indices of the core samples.
    labels : ndarray of shape (n_samples,)
        Cluster of each point, ``-1`` for noise.
    """
    est = DBSCAN(
        eps=eps, min_samples=min_samples, metric=metric, metric_params=metric_params,
        algorithm=algorithm, leaf_size=leaf_size, p=p, n_jobs=n_jobs,
    )
    est.fit(X, sample_weight=sample_weight)
    return est.core_sample_indices_, est.labels_

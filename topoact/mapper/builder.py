"""Building Mapper graphs: the functional core :func:`mapper_graph` and the :class:`Mapper` estimator."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn import cluster as sk_cluster
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from topoact.mapper.cluster import EPS_RULES, DBSCAN, dbscan_graph_labels, dbscan_rows
from topoact.mapper.cover import COVERS, make_cover
from topoact.mapper.elements import generic_labels, is_fast_dbscan, min_cluster_samples
from topoact.mapper.graph import MapperGraph
from topoact.mapper.lens import make_lens
from topoact.mapper.neighbors import (
    EpsilonGraph, array_fingerprint, estimate_pairs_within, forked_map, reject_zero_rows, resolve_n_jobs,
    row_sqnorms, search_pivots, threaded_map,
)
from topoact.mapper.nerve import nerve_edges
from topoact.mapper.protocols import ElementRunner
from topoact.mapper.scale import ADAPTIVE_FACTOR, cmo_resolution, element_scales
from topoact.mapper.tiles import NumpyTiles, make_tiles
from topoact.progress import Progress, counting, scaled

__all__ = ["Mapper", "mapper_graph", "check_data"]

#: From this many element rows in all (overlaps counted), ``n_jobs > 1`` clusters the cover
#: elements on forked processes rather than threads.
PROCESS_MIN_ROWS = 20_000

#: ``warm_start`` keeps a shared epsilon-graph only while the estimated pairs within eps that
#: share a cover element are at most this many per point. Measured (bench/RESULTS.md): 60-180
#: on the synthetic rows (100k-300k) and 136 on MiniLM tokens, where its re-covers are several
#: times faster than the pruned search; 660-1,740 on the image models' real activations, where
#: its first fit is 3-7x slower than the pruned search and its re-covers barely faster.
SHARED_GRAPH_MAX_PAIRS_PER_POINT = 400


def check_data(X) -> np.ndarray:
    """Validate the data a graph is built on: a finite, non-empty 2-D float array.

    Returns ``X`` as float32 or float64 (no copy when it already is one).
    """
    X = np.asarray(X)
    if X.ndim == 1:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got a 1-D array of length {X.shape[0]}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X is empty (shape {X.shape}): a Mapper graph needs at least one sample and one feature")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    # In row blocks: a full boolean copy of X would cost a quarter of X's memory.
    bad = np.concatenate([~np.isfinite(X[s : s + 8192]).all(axis=1) for s in range(0, X.shape[0], 8192)])
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"X has {rows.size} row(s) with NaN or Inf (first: row {rows[0]}); "
            "drop or impute them before building a graph"
        )
    return X


def mapper_graph(
    X: np.ndarray,
    lens_values: np.ndarray,
    membership: sp.spmatrix,
    clusterer,
    *,
    neighbor_graph: EpsilonGraph | None = None,
    min_intersection: int = 1,
    n_jobs: int | None = None,
    params: dict | None = None,
    engine: str | ElementRunner = "local",
    progress: Progress | None = None,
    element_eps: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
    stats: dict | None = None,
) -> MapperGraph:
    """Cluster every cover element and connect the clusters: the Mapper graph.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data (checked with :func:`check_data`).
    lens_values : ndarray of shape (n_samples, n_lens_dims)
    membership : sparse matrix of shape (n_samples, n_elements)
        Cover membership (from a fitted cover's ``transform``).
    clusterer : topoact DBSCAN or a scikit-learn clusterer
        A topoact :class:`~topoact.mapper.cluster.DBSCAN` with a numeric ``eps``
        uses ``neighbor_graph`` when given, else clusters each element with the
        pruned exact DBSCAN (:func:`~topoact.mapper.cluster.dbscan_rows`); any other
        clusterer is cloned and fit on each element separately.
    neighbor_graph : EpsilonGraph, optional
        Epsilon-graph of ``X`` at the clusterer's eps, already extended with
        ``membership`` (kept by a ``warm_start`` Mapper so that a new cover costs no
        new distances). The labels are the same with or without it.
    min_intersection : int, default=1
        Members two nodes must share for an edge.
    n_jobs : int or None
        Workers across the cover elements: forked processes for the pruned DBSCAN from
        ``PROCESS_MIN_ROWS`` element rows on (where fork is available), threads below
        that and for a generic clusterer; threads inside the element when there is one.
    params : dict, optional
        Recorded in the graph.
    engine : 'local' or ElementRunner, default='local'
        Where the cover elements are clustered: here, or by the
        :class:`~topoact.mapper.protocols.ElementRunner` passed (for example
        :class:`topoact.distributed.RayEngine`), which clusters each element with its
        own exact search (:class:`~topoact.mapper.elements.ElementClustering`);
        ``neighbor_graph`` is then not used. The graph is the same.
    progress : callable(fraction, message), optional
        Called as elements are clustered (pruned DBSCAN), or passed to the engine's
        ``cluster_elements``.
    element_eps : ndarray of shape (n_elements,), optional
        With a topoact DBSCAN: the eps of each cover element (``eps="adaptive"``);
        each element is then clustered on its own with its eps
        (:func:`~topoact.mapper.cluster.dbscan_rows`) and ``neighbor_graph`` is not used.
    sample_weight : ndarray of shape (n_samples,), optional
        How often each row counts for DBSCAN's core test (a bootstrap resample's
        multiplicities; fast DBSCAN only).
    stats : dict, optional
        Pruned DBSCAN: filled with the work summed over elements (``pairs_computed``,
        ``pairs_rechecked``, ``leaf_pairs_skipped``).

    Returns
    -------
    MapperGraph
    """
    membership = sp.csc_matrix(membership)
    membership.sort_indices()
    n_points = X.shape[0]
    elements = [
        membership.indices[membership.indptr[e] : membership.indptr[e + 1]].astype(np.int64)
        for e in range(membership.shape[1])
    ]
    runner = None if isinstance(engine, str) and engine == "local" else engine
    if is_fast_dbscan(clusterer) and runner is None and (neighbor_graph is None or element_eps is not None):
        # Each element on its own with the pruned exact DBSCAN (no shared graph to reuse).
        if element_eps is None:
            eps = float(clusterer.eps_) if hasattr(clusterer, "eps_") else clusterer.resolve_eps(X)
            eps_of = np.full(len(elements), eps)
        else:  # no global eps to resolve: each element has its own
            eps_of = np.asarray(element_eps, dtype=np.float64)
        if clusterer.fast_metric == "cosine":
            reject_zero_rows(row_sqnorms(X))  # once for X, not per element
        # One set of pivots for all elements: k-means once, on a sample of X.
        n_workers = resolve_n_jobs(n_jobs)
        pivots = search_pivots(X, metric=clusterer.fast_metric, random_state=clusterer.random_state, n_jobs=n_workers)
        inner_jobs = n_workers if len(elements) == 1 else 1  # threads go to elements, not inside one

        def cluster_element(e: int) -> tuple[np.ndarray, dict]:
            members = elements[e]
            work: dict = {}
            if members.size == 0 or not np.isfinite(eps_of[e]):
                return np.full(members.size, -1, dtype=np.int64), work
            labels, _ = dbscan_rows(
                X, members, float(eps_of[e]), clusterer.min_samples, metric=clusterer.fast_metric,
                border=clusterer.border, random_state=clusterer.random_state, n_jobs=inner_jobs,
                weights=None if sample_weight is None else sample_weight[members], pivots=pivots, stats=work,
            )
            return labels, work

        report = scaled(progress, 0.0, 1.0)
        total = max(1, sum(m.size for m in elements))
        labels_per_element, done = [], 0
        # Elements on n_jobs workers, one BLAS thread each, results in element order. Much
        # of an element's search is Python that holds the interpreter lock: large inputs
        # go to forked processes (which share X), small ones to threads (a fork costs
        # more than their whole search).
        if total >= PROCESS_MIN_ROWS:
            # Largest elements first (their search grows faster than their size).
            results = forked_map(cluster_element, range(len(elements)), n_workers, cost=[m.size for m in elements])
        else:
            results = threaded_map(cluster_element, range(len(elements)), n_workers)
        for e, (labels, work) in enumerate(results):
            labels_per_element.append(labels)
            if stats is not None:
                for key, value in work.items():
                    stats[key] = stats.get(key, 0) + value
            done += elements[e].size
            report(done / total, f"cover element {e + 1} of {len(elements)} clustered")
    elif runner is not None:
        if not isinstance(runner, ElementRunner):
            raise ValueError(f"engine must be 'local' or an object with a cluster_elements method, got {engine!r}")
        labels_per_element = list(runner.cluster_elements(X, elements, clusterer, progress=progress))
        if len(labels_per_element) != len(elements):
            raise ValueError(
                f"the engine {type(runner).__name__} returned labels for {len(labels_per_element)} "
                f"of {len(elements)} cover elements"
            )
    elif is_fast_dbscan(clusterer):

        def cluster_element(members: np.ndarray) -> np.ndarray:
            graph, local_of_member = neighbor_graph.element_graph(members)
            local_rows = np.empty(members.size, dtype=np.int64)
            local_rows[local_of_member] = members
            labels = dbscan_graph_labels(
                graph, clusterer.min_samples, border=clusterer.border,
                points=X, point_rows=local_rows, metric=clusterer.fast_metric,
                weights=None if sample_weight is None else sample_weight[local_rows],
            )
            return labels[local_of_member]

        labels_per_element = [cluster_element(members) for members in elements]
    else:
        min_size = min_cluster_samples(clusterer)

        def cluster_element(members: np.ndarray) -> np.ndarray | None:
            return generic_labels(X, members, clusterer, min_size)

        n_workers = resolve_n_jobs(n_jobs)
        if n_workers > 1:
            with ThreadPoolExecutor(max_workers=n_workers) as pool:
                labels_per_element = list(pool.map(cluster_element, elements))
        else:
            labels_per_element = [cluster_element(members) for members in elements]

    node_members: list[np.ndarray] = []
    node_element: list[int] = []
    node_cluster: list[int] = []
    for element, (members, labels) in enumerate(zip(elements, labels_per_element)):
        if labels is None:
            continue
        for label in np.unique(labels):
            if label < 0:
                continue  # noise is dropped, and counted by the graph
            node_members.append(members[labels == label])
            node_element.append(element)
            node_cluster.append(int(label))

    edges, shared = nerve_edges(node_members, n_points, min_intersection)
    n_dims = lens_values.shape[1]
    lens_mean = np.empty((len(node_members), n_dims))
    lens_min = np.empty((len(node_members), n_dims))
    lens_max = np.empty((len(node_members), n_dims))
    for i, members in enumerate(node_members):
        values = lens_values[members]
        lens_mean[i], lens_min[i], lens_max[i] = values.mean(axis=0), values.min(axis=0), values.max(axis=0)
    return MapperGraph(
        node_members=node_members,
        node_element=np.array(node_element, dtype=np.int64),
        node_cluster=np.array(node_cluster, dtype=np.int64),
        edges=edges,
        edge_shared=shared,
        n_points=n_points,
        lens_mean=lens_mean,
        lens_min=lens_min,
        lens_max=lens_max,
        params=dict(params or {}),
    )


class Mapper(BaseEstimator):
    """Mapper graph of a point cloud: lens -> cover -> clustering -> nerve.

    Parameters
    ----------
    lens : str, array, callable, list or transformer, default="l2norm"
        The filter function; see :func:`topoact.mapper.lens.make_lens`. TopoAct used
        the L2 norm of the activation vector.
    n_intervals : int >= 1 or "auto", default=30
        Intervals per lens dimension (KeplerMapper's ``n_cubes``). ``"auto"``:
        Carrière–Michel–Oudot's resolution rule for 1-D lenses
        (:func:`~topoact.mapper.scale.cmo_resolution`; Carrière, Michel, Oudot,
        "Statistical analysis and parameter selection for Mapper", JMLR 19(1), 2018);
        a lens with more dimensions raises an error asking for an integer.
    overlap : float in [0, 1), default=0.3
        Fraction shared by neighbouring intervals (KeplerMapper's ``perc_overlap``).
    cover : {"uniform", "balanced"} or cover object, default="uniform"
    clusterer : "dbscan", "hdbscan" or a scikit-learn clusterer, default="dbscan"
        ``"dbscan"`` uses topoact's DBSCAN with ``eps``, ``min_samples``, ``metric``;
        ``"hdbscan"`` scikit-learn's :class:`~sklearn.cluster.HDBSCAN` in every cover
        element with ``min_cluster_size``, ``min_samples`` and ``metric`` (no eps);
        a :class:`sklearn.cluster.DBSCAN` object is run by the same engine with its
        own parameters and scikit-learn's border rule; any other clusterer is
        cloned and fit on each cover element.
    eps : float > 0 or {"auto", "knee", "hausdorff", "adaptive"}, default="hausdorff"
        DBSCAN radius, or the rule to choose it (see :mod:`topoact.mapper.scale`):
        ``"hausdorff"`` is one global scale from the data (Carrière–Michel–Oudot's
        subsampled Hausdorff distance), ``"adaptive"`` one eps per cover element
        (3 x the median k-NN distance of its points; TopoAct's "eps adaptive").
    min_samples : int >= 1, default=5
    min_cluster_size : int >= 2, default=10
        HDBSCAN's smallest cluster (``clusterer="hdbscan"`` only); elements with
        fewer points are not clustered.
    metric : {"euclidean", "cosine"}, default="euclidean"
    eps_quantile : float in (0, 1], default=0.9
        Quantile of the k-NN distance used by ``eps="auto"``.
    border : {"nearest", "first"}, default="nearest"
        DBSCAN border points next to two clusters: nearest core neighbour's cluster
        (independent of row order) or scikit-learn's first-found cluster.
    min_intersection : int >= 1, default=1
        Shared members needed for an edge.
    n_jobs : int or None, default=None
        Workers (scikit-learn convention): the cover elements are clustered in parallel,
        on forked processes for large inputs (they share X), else on threads. The graph
        does not depend on it.
    random_state : int, default=0
        Seed for the eps sample and the search pivots.
    engine : "local" or ElementRunner, default="local"
        Where cover elements are clustered: in this process (one shared neighbour
        graph), or by the engine passed, any object with a ``cluster_elements``
        method (:class:`~topoact.mapper.protocols.ElementRunner`), for example
        ``topoact.distributed.RayEngine()``: Ray tasks, one per element, largest
        first. The graph does not depend on it.
    device : {"cpu", "cuda", "cuda:N", "auto"} or tile backend, default="cpu"
        Where the neighbour search's float32 distance tiles are computed: numpy BLAS
        ("cpu"), torch on a CUDA device ("cuda"), CUDA when torch sees one ("auto"),
        or a backend from :mod:`topoact.mapper.tiles`. Every pair near ``eps`` is
        decided in float64 on the CPU, so the graph does not depend on it. Asking for
        CUDA where there is none raises ``ValueError``.
    warm_start : bool, default=False
        Keep the neighbour graph between fits: refitting on the same data, lens
        and eps with another cover (``n_intervals``, ``overlap``) does not redo the
        neighbour search. Only where that graph is sparse enough to pay: with more
        than ``SHARED_GRAPH_MAX_PAIRS_PER_POINT`` pairs per point within eps
        (estimated from a sample, ``pairs_within_estimate_``) every fit runs the
        pruned search instead, which is then faster for the first fit and for
        re-covers. Without it (and on the CPU) each cover element is clustered by
        the pruned exact DBSCAN (:mod:`topoact.mapper.pruned`), which stops a core
        test at ``min_samples`` neighbours and skips pairs of leaves already joined,
        instead of listing every pair within eps; the graph is the same either way.

    Attributes
    ----------
    graph_ : MapperGraph
    lens_ : fitted lens object
    lens_values_ : ndarray of shape (n_samples, n_lens_dims)
    cover_ : fitted cover
    clusterer_ : the clusterer used
    n_intervals_ : int
        Intervals per lens dimension used (the rule's choice for ``"auto"``).
    eps_ : float or None
        DBSCAN radius used (None for other clusterers; for ``eps="adaptive"`` the
        median of ``element_eps_``).
    element_eps_ : ndarray of shape (n_elements,) or None
        Per-element eps under ``eps="adaptive"`` (nan for elements with under two
        points); None otherwise.
    scale_ : float or None
        The data's scale from :func:`~topoact.mapper.scale.hausdorff_scale` when a
        rule used it (``eps="hausdorff"`` or ``n_intervals="auto"``).
    neighbors_ : EpsilonGraph or None
        The shared epsilon-graph (``warm_start=True`` on a sparse enough graph, or a GPU
        ``device``); None when each element ran the pruned DBSCAN, on an engine, or for
        another clusterer.
    pairs_within_estimate_ : float
        With ``warm_start``: the estimated pairs within eps that share a cover element,
        which decided between the shared graph and the pruned search.
    search_stats_ : dict
        Work of the last fit's DBSCAN search: ``pairs_computed`` (distances evaluated),
        ``pairs_rechecked`` (decided again in float64), and ``leaf_pairs_skipped``
        (pruned DBSCAN) or ``pairs_within_eps`` (the shared epsilon-graph, cumulative
        over warm fits); empty for other clusterers and engines.
    timings_ : dict
        Seconds spent in each stage of the last fit.
    """

    _parameter_constraints: dict = {
        "lens": "no_validation",
        "n_intervals": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "overlap": [Interval(Real, 0.0, 1.0, closed="left")],
        "cover": [StrOptions(set(COVERS)), HasMethods(["fit", "transform"])],
        "clusterer": [StrOptions({"dbscan", "hdbscan"}), HasMethods(["fit_predict"])],
        "eps": [Interval(Real, 0.0, None, closed="neither"), StrOptions(set(EPS_RULES))],
        "min_samples": [Interval(Integral, 1, None, closed="left")],
        "min_cluster_size": [Interval(Integral, 2, None, closed="left")],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "eps_quantile": [Interval(Real, 0.0, 1.0, closed="right")],
        "border": [StrOptions({"nearest", "first"})],
        "min_intersection": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": [Integral],
        "engine": [StrOptions({"local"}), HasMethods(["cluster_elements"])],
        "device": "no_validation",  # checked by make_tiles, which names the valid choices
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        lens="l2norm",
        n_intervals: int | str = 30,
        overlap: float = 0.3,
        cover="uniform",
        clusterer="dbscan",
        eps: float | str = "hausdorff",
        min_samples: int = 5,
        min_cluster_size: int = 10,
        metric: str = "euclidean",
        eps_quantile: float = 0.9,
        border: str = "nearest",
        min_intersection: int = 1,
        n_jobs: int | None = None,
        random_state: int = 0,
        engine: str | ElementRunner = "local",
        device="cpu",
        warm_start: bool = False,
    ):
        self.lens = lens
        self.n_intervals = n_intervals
        self.overlap = overlap
        self.cover = cover
        self.clusterer = clusterer
        self.eps = eps
        self.min_samples = min_samples
        self.min_cluster_size = min_cluster_size
        self.metric = metric
        self.eps_quantile = eps_quantile
        self.border = border
        self.min_intersection = min_intersection
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.engine = engine
        self.device = device
        self.warm_start = warm_start

    def fit(self, X, y=None, progress: Progress | None = None):
        """Build the Mapper graph of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite data; float32 stays float32 (no copy of X is made for it).
        y : ignored
        progress : callable(fraction, message), optional
            Called as stages finish (fraction in [0, 1]).

        Returns
        -------
        self
        """
        self._validate_params()
        tiles = make_tiles(self.device)  # a wrong or absent device fails before any work
        report = progress or (lambda fraction, message: None)
        timings: dict[str, float] = {}
        start = clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = now - clock
            clock = now

        X = check_data(X)
        fingerprint = array_fingerprint(X) if self.warm_start else None
        report(0.0, "lens")
        self.lens_ = clone(make_lens(self.lens)) if not isinstance(self.lens, np.ndarray) else make_lens(self.lens)
        lens_values = np.asarray(self.lens_.fit_transform(X), dtype=np.float64)
        if lens_values.ndim == 1:
            lens_values = lens_values.reshape(-1, 1)
        if lens_values.shape[0] != X.shape[0] or not np.all(np.isfinite(lens_values)):
            raise ValueError("the lens must give one finite value (or pair) per sample")
        self.lens_values_ = lens_values
        lap("lens")

        report(0.05, "cover")
        self.scale_ = None
        self.n_intervals_ = self.n_intervals
        if self.n_intervals == "auto":
            self.n_intervals_ = cmo_resolution(
                lens_values, X, self.overlap, metric=self.metric, random_state=self.random_state,
            )
            self.scale_ = self._data_scale(X)
        self.cover_ = clone(make_cover(self.cover, self.n_intervals_, self.overlap))
        self.cover_.fit(lens_values)
        membership = self.cover_.transform(lens_values)
        lap("cover")

        self.clusterer_ = self._make_clusterer()
        previous_eps = getattr(self, "eps_", None)
        self.eps_ = None
        self.element_eps_ = None
        neighbors = None
        on_runner = not isinstance(self.engine, str)  # "local" is the only engine name the core knows
        adaptive = is_fast_dbscan(self.clusterer_) and self.clusterer_.eps == "adaptive"
        if adaptive:
            report(0.1, "eps per cover element")
            self.element_eps_ = element_scales(
                X, membership, self.clusterer_.min_samples, metric=self.clusterer_.fast_metric,
                random_state=self.random_state,
            )
            finite = self.element_eps_[np.isfinite(self.element_eps_)]
            self.eps_ = float(np.median(finite)) if finite.size else float(np.finfo(np.float64).tiny)
            self.clusterer_.eps_ = self.eps_
            lap("eps")
        elif is_fast_dbscan(self.clusterer_):
            report(0.1, "eps")
            self.eps_ = self._resolve_eps(X, fingerprint, previous_eps)
            self.clusterer_.eps_ = self.eps_
            if self.clusterer_.eps == "hausdorff":
                self.scale_ = self.eps_
            lap("eps")
        # The shared epsilon-graph pays for itself when covers change on the same data
        # (warm_start) or when its tiles run on a GPU; otherwise each element runs the
        # pruned DBSCAN, which lists no dense neighbourhoods. Same labels either way.
        searched_here = is_fast_dbscan(self.clusterer_) and not on_runner and not adaptive
        on_gpu = not isinstance(tiles, NumpyTiles)
        shared_graph = searched_here and (
            on_gpu or (self.warm_start and self._shared_graph_pays(X, membership, fingerprint))
        )
        if shared_graph:
            report(0.15, "neighbour search")
            neighbors = self._neighbor_graph(X, lens_values, fingerprint, tiles)
            neighbors.extend(
                membership,
                progress=counting(report, "neighbour search", 0.15, 0.9),
            )
            lap("neighbors")
        self.neighbors_ = neighbors

        clustering_from = 0.9 if neighbors is not None else 0.15  # after the shared search, or all of it
        report(clustering_from, "clustering")
        params = self._graph_params()
        self.search_stats_ = {}
        self.graph_ = mapper_graph(
            X, lens_values, membership, self.clusterer_, neighbor_graph=neighbors,
            min_intersection=self.min_intersection, n_jobs=self.n_jobs, params=params,
            engine="local" if adaptive else self.engine, element_eps=self.element_eps_,
            progress=scaled(report, clustering_from, 0.95), stats=self.search_stats_,
        )
        if neighbors is not None:
            self.search_stats_ = {"pairs_computed": neighbors.pairs_computed, "pairs_rechecked": neighbors.pairs_rechecked,
                                  "pairs_within_eps": neighbors.n_edges}
        lap("clustering_and_nerve")
        timings["total"] = time.perf_counter() - start
        self.timings_ = timings
        self._fit_key = self._eps_key(fingerprint)
        report(1.0, "done")
        return self

    # ------------------------------------------------------------------ helpers
    def _make_clusterer(self):
        if self.clusterer == "hdbscan":
            return sk_cluster.HDBSCAN(
                min_cluster_size=self.min_cluster_size, min_samples=self.min_samples, metric=self.metric,
                copy=False,  # each element gets its own copy X[members]
            )
        if isinstance(self.clusterer, str):
            return DBSCAN(
                eps=self.eps, min_samples=self.min_samples, metric=self.metric,
                eps_quantile=self.eps_quantile, border=self.border, n_jobs=self.n_jobs,
                random_state=self.random_state,
            )
        if isinstance(self.clusterer, DBSCAN):
            return clone(self.clusterer)
        if isinstance(self.clusterer, sk_cluster.DBSCAN):
            # The drop-in with the same parameters: our neighbour search where it
            # applies, scikit-learn's border rule.
            params = {**self.clusterer.get_params(), "n_jobs": self.n_jobs}
            return DBSCAN(**params, border="first", random_state=self.random_state)
        if not hasattr(self.clusterer, "fit_predict"):
            raise ValueError(
                f"clusterer must be 'dbscan' or a scikit-learn clusterer with fit_predict, "
                f"got {type(self.clusterer).__name__}"
            )
        return clone(self.clusterer)

    def _eps_key(self, fingerprint: str | None) -> tuple:
        """What determines the eps rule's choice: the data and the rule's parameters."""
        return (fingerprint, self.eps, self.min_samples, self.metric, self.eps_quantile, self.random_state)

    def _resolve_eps(self, X: np.ndarray, fingerprint: str | None, previous_eps: float | None) -> float:
        """The given eps or the rule's choice; a warm refit on the same data and rule reuses the last one."""
        if self.warm_start and previous_eps is not None and getattr(self, "_fit_key", None) == self._eps_key(fingerprint):
            return previous_eps
        return self.clusterer_.resolve_eps(X)

    def _shared_graph_pays(self, X: np.ndarray, membership: sp.spmatrix, fingerprint: str | None) -> bool:
        """Whether ``warm_start`` keeps a shared epsilon-graph for this data and eps.

        It does unless the graph would be dense: listing every pair within eps costs time
        and memory in proportion to their number, and the re-covers it makes cheap cost
        more than the pruned search when more than ``SHARED_GRAPH_MAX_PAIRS_PER_POINT``
        pairs per point within eps share a cover element (real activations at the usual
        eps: thousands of neighbours per point). Estimated on a sample for the first cover; decided
        once per data set and eps; a graph already kept is kept.
        """
        key = (fingerprint, self.eps_, self.clusterer_.fast_metric)
        previous = getattr(self, "neighbors_", None)
        if previous is not None and (previous.x_fingerprint, previous.eps, previous.metric) == key:
            return True
        if getattr(self, "_shared_graph_key", None) != key:
            self.pairs_within_estimate_ = estimate_pairs_within(
                X, self.eps_, self.clusterer_.fast_metric, membership=membership, random_state=self.random_state,
            )
            self._shared_graph_key = key
        return self.pairs_within_estimate_ <= SHARED_GRAPH_MAX_PAIRS_PER_POINT * X.shape[0]

    def _neighbor_graph(self, X: np.ndarray, lens_values: np.ndarray, fingerprint: str | None, tiles) -> EpsilonGraph:
        previous: EpsilonGraph | None = getattr(self, "neighbors_", None)
        if (
            self.warm_start
            and previous is not None
            and previous.x_fingerprint == fingerprint
            and previous.lens_fingerprint == array_fingerprint(lens_values)
            and previous.eps == self.eps_
            and previous.metric == self.clusterer_.fast_metric
        ):
            previous.n_jobs = self.n_jobs
            return previous
        graph = EpsilonGraph.build(
            X, lens_values, self.eps_, metric=self.clusterer_.fast_metric, n_jobs=self.n_jobs,
            random_state=self.random_state, device=tiles,
        )
        if self.warm_start:
            graph.x_fingerprint = fingerprint
            graph.lens_fingerprint = array_fingerprint(lens_values)
        return graph

    def _graph_params(self) -> dict:
        def describe(value):
            if isinstance(value, (str, int, float, bool)) or value is None:
                return value
            if isinstance(value, np.ndarray):
                return f"array{value.shape}"
            return repr(value)

        params = {key: describe(value) for key, value in self.get_params(deep=False).items()}
        for where_not_what in ("n_jobs", "warm_start", "engine", "device"):  # the graph does not depend on them
            params.pop(where_not_what, None)
        params["eps_used"] = self.eps_
        params["n_intervals_used"] = int(self.n_intervals_) if self.n_intervals_ != "auto" else None
        if self.element_eps_ is not None:
            params["element_eps"] = [None if not np.isfinite(v) else float(v) for v in self.element_eps_]
        params["choices"] = self.explain_choices()
        return params

    def _data_scale(self, X: np.ndarray) -> float:
        from topoact.mapper.scale import hausdorff_scale

        return hausdorff_scale(X, metric=self.metric, random_state=self.random_state)

    def explain_choices(self) -> list[str]:
        """One sentence per parameter of the last fit that a rule chose, saying what and why.

        Returns
        -------
        list of str
            Empty when every parameter was given as a number.
        """
        sentences: list[str] = []
        if self.n_intervals == "auto" and getattr(self, "n_intervals_", None) is not None:
            sentences.append(
                f"{self.n_intervals_} intervals: Carrière–Michel–Oudot's resolution for a 1-D lens at "
                f"overlap {self.overlap:g} (the largest lens step between points within the data's "
                f"scale {self.scale_:.3g})"
            )
        k = max(1, self.min_samples - 1)
        if isinstance(getattr(self, "clusterer_", None), sk_cluster.HDBSCAN):
            sentences.append(
                f"HDBSCAN in each cover element: min cluster size {self.min_cluster_size}, "
                f"min samples {self.min_samples} (no eps)"
            )
        elif isinstance(self.eps, str) and getattr(self, "eps_", None) is not None:
            rule = self.eps
            if rule == "adaptive":
                finite = self.element_eps_[np.isfinite(self.element_eps_)]
                low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
                sentences.append(
                    f"eps {low:.3g}–{high:.3g} per element (median {self.eps_:.3g}): "
                    f"{ADAPTIVE_FACTOR:g} × the median {k}-NN distance of each element's points, "
                    "at least the element's own scale"
                )
            elif rule == "hausdorff":
                sentences.append(
                    f"eps {self.eps_:.3g}: the data's scale, the mean robust Hausdorff distance (0.99 quantile) "
                    "between a sample and its random subsamples (Carrière–Michel–Oudot)"
                )
            elif rule == "knee":
                sentences.append(f"eps {self.eps_:.3g}: 0.75 × the knee of the sorted {k}-NN distances (TopoBERT)")
            else:
                sentences.append(
                    f"eps {self.eps_:.3g}: the {self.eps_quantile:g} quantile of the {k}-NN distances"
                )
        return sentences

"""The pruned exact DBSCAN (topoact.mapper.pruned): the labels of scikit-learn and of the shared epsilon-graph."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.cluster import DBSCAN as SklearnDBSCAN
from scipy.spatial.distance import pdist
from sklearn.neighbors import NearestNeighbors

from topoact.mapper import Mapper
from topoact.mapper.builder import PROCESS_MIN_ROWS
from topoact.mapper.cluster import dbscan_graph_labels
from topoact.mapper.neighbors import EpsilonGraph, forked_map, search_pivots, threaded_map
from topoact.mapper.pruned import pruned_dbscan, sparse_nonzero
from topoact.synthetic import relu_gaussian_mixture

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def clouds(draw):
    """Clusters of varied spread, sometimes ReLU-clipped, sometimes with many duplicates."""
    n = draw(st.integers(2, 400))
    dim = draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    k = draw(st.integers(1, 6))
    centres = rng.normal(scale=draw(st.floats(0.5, 6.0)), size=(k, dim))
    X = centres[rng.integers(0, k, n)] + rng.normal(size=(n, dim)) * draw(st.floats(0.01, 1.5))
    if draw(st.booleans()):
        X = np.maximum(X, 0.0)
    if draw(st.booleans()):
        X[: n // 3] = X[0]  # a leaf entirely within eps of itself and of its neighbours
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return X.astype(dtype), rng


def kth_distance(X, metric, quantile):
    """An eps near the given quantile of the 5-NN distance, halfway between two distinct pair
    distances: float rounding cannot then put a pair on different sides for two libraries."""
    k = min(len(X), 6)
    target = float(np.quantile(NearestNeighbors(n_neighbors=k, metric=metric).fit(X).kneighbors(X)[0][:, -1], quantile))
    distances = np.unique(pdist(X.astype(np.float64), metric=metric))
    distances = distances[distances > 1e-9]
    if distances.size == 0:
        return 1.0
    wide = np.flatnonzero(np.diff(distances) > 1e-5 * distances[1:])
    below = wide[distances[wide] <= target]
    i = below[-1] if below.size else (wide[0] if wide.size else distances.size - 1)
    upper = distances[i + 1] if i + 1 < distances.size else 2 * distances[i]
    return float((distances[i] + upper) / 2)


@SETTINGS
@given(clouds(), st.sampled_from(["euclidean", "cosine"]), st.floats(0.05, 1.0), st.integers(1, 14),
       st.integers(1, 80), st.integers(0, 3))
def test_labels_and_core_points_equal_scikit_learn(cloud, metric, quantile, min_samples, leaf_size, seed):
    X, _ = cloud
    if metric == "cosine":
        X = X + np.float32(0.5)  # no all-zero rows
    eps = kth_distance(X, metric, quantile)
    # scikit-learn on the float64 values: its float32 cosine is off by ~1e-7, ours is float64.
    theirs = SklearnDBSCAN(eps=eps, min_samples=min_samples, metric=metric, algorithm="brute").fit(X.astype(np.float64))
    stats = {}
    labels, is_core = pruned_dbscan(X, None, eps, min_samples, metric=metric, border="first",
                                    leaf_size=leaf_size, random_state=seed, stats=stats)
    assert np.array_equal(labels, theirs.labels_)
    assert np.array_equal(np.flatnonzero(is_core), theirs.core_sample_indices_)
    assert stats["pairs_computed"] <= 2 * len(X) * len(X)  # core test + clusters, each at most all pairs


@SETTINGS
@given(clouds(), st.floats(0.05, 1.0), st.integers(1, 12), st.integers(1, 60), st.sampled_from(["first", "nearest"]))
def test_subsets_weights_and_borders_equal_the_shared_epsilon_graph(cloud, quantile, min_samples, leaf_size, border):
    X, rng = cloud
    n = len(X)
    rows = np.flatnonzero(rng.random(n) < 0.7)
    assume(rows.size > 0)  # (an empty subset has no epsilon-graph to compare with)
    eps = kth_distance(X, "euclidean", quantile)
    weights = rng.integers(1, 4, size=rows.size).astype(np.float64)
    graph = EpsilonGraph.build(X[rows], np.zeros((rows.size, 1)), eps, chunk_size=16, n_pivots=4)
    graph.extend(np.ones((rows.size, 1), dtype=bool))
    edges, local = graph.element_graph(np.arange(rows.size))
    local_rows = np.empty(rows.size, dtype=np.int64)
    local_rows[local] = rows
    for w in (None, weights):
        expected = dbscan_graph_labels(edges, min_samples, border=border, points=X, point_rows=local_rows,
                                       weights=None if w is None else w[np.argsort(local)])[local]
        labels, _ = pruned_dbscan(X, rows, eps, min_samples, border=border, weights=w, leaf_size=leaf_size)
        assert np.array_equal(labels, expected)


def test_a_dense_blob_is_core_without_listing_its_pairs():
    # 3,000 points in a ball far smaller than eps: every point is core after its own
    # leaf, and one leaf pair per leaf joins the cluster; the epsilon-graph would list
    # all 4.5 M pairs.
    rng = np.random.default_rng(0)
    X = rng.normal(scale=0.01, size=(3000, 32)).astype(np.float32)
    stats = {}
    labels, is_core = pruned_dbscan(X, None, 1.0, 10, leaf_size=64, stats=stats)
    assert is_core.all() and np.all(labels == 0)
    assert stats["pairs_computed"] == 0  # every leaf pair lies entirely within eps


def two_plates(gap: float, dim: int = 16) -> np.ndarray:
    """Two square grids (41 x 41 points, spacing 0.1) in parallel planes ``gap`` apart along
    the first axis. The facing points are exactly ``gap`` apart (same float32 grid
    coordinates); as balls, the plates' leaves overlap by far."""
    side = (np.arange(41) * 0.1).astype(np.float32)
    grid = np.stack(np.meshgrid(side, side), axis=-1).reshape(-1, 2)
    X = np.zeros((2 * grid.shape[0], dim), dtype=np.float32)
    X[:, 1:3] = np.concatenate([grid, grid])
    X[grid.shape[0]:, 0] = gap
    return X


def test_clusters_across_a_gap_are_not_compared_pair_by_pair():
    # Every point is core within its own leaf, so the plates meet in the cluster stage
    # only, where the centre-line test proves their leaves 1.0 apart (eps 0.8) without
    # computing the tiles between them.
    X = two_plates(1.0)
    stats = {}
    labels, is_core = pruned_dbscan(X, None, 0.8, 4, leaf_size=32, stats=stats)
    expected = SklearnDBSCAN(eps=0.8, min_samples=4).fit(X.astype(np.float64))
    assert np.array_equal(labels, expected.labels_) and labels.max() == 1 and is_core.all()
    half = X.shape[0] // 2
    assert stats["pairs_computed"] < half * half / 20  # far from one plate against the other


@pytest.mark.parametrize("below", [False, True])
def test_pairs_exactly_eps_apart_across_a_gap_decide_as_scikit_learn(below):
    # Facing points exactly eps apart join the plates (distance <= eps); a hair less and
    # they stay apart. The centre-line bound must keep the pairs at the limit.
    X = two_plates(0.75)
    eps = 0.75 - 1e-6 if below else 0.75  # inside the float32 tiles' doubt: decided in float64
    labels, _ = pruned_dbscan(X, None, eps, 4, leaf_size=32)
    expected = SklearnDBSCAN(eps=eps, min_samples=4).fit(X.astype(np.float64)).labels_
    assert np.array_equal(labels, expected)
    assert labels.max() == (1 if below else 0)


def test_threaded_map_keeps_the_order_and_stops_with_its_caller():
    assert list(threaded_map(lambda i: i * i, range(50), 2)) == [i * i for i in range(50)]
    started = []
    results = threaded_map(lambda i: started.append(i) or i, range(1000), 2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    results.close()  # as when a progress callback raises: no more items start
    assert len(started) <= 3 + 3


@settings(max_examples=40, deadline=None)
@given(st.integers(40, 3000), st.integers(1, 300), st.sampled_from([np.float32, np.float64]),
       st.sampled_from(["euclidean", "cosine"]), st.floats(0.0, 1e4), st.integers(0, 2**31 - 1))
def test_pivot_table_bounds_hold_every_exact_distance(n, dim, dtype, metric, offset, seed):
    # Far from the origin (offset) float32 products lose most digits: the bounds must widen.
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, dim)) * rng.uniform(0.01, 10) + offset).astype(dtype)
    X[0] = X[1]  # duplicates: distances to a pivot at 0 apart
    rows = np.sort(rng.choice(n, n // 2, replace=False)) if seed % 2 else None
    table = search_pivots(X, rows, metric=metric, random_state=seed % 7, n_jobs=2 if seed % 3 else 1)
    exact = np.asarray(X if rows is None else X[rows], dtype=np.float64)
    if metric == "cosine":
        exact = exact / np.linalg.norm(exact, axis=1, keepdims=True)
    distance = np.sqrt(((exact[:, None, :] - table.pivots[None, :, :]) ** 2).sum(axis=2))
    low, high = table.lookup(rows)
    assert np.all(low <= distance) and np.all(distance <= high)
    # And tight: within a few float32 rounding bounds of the norms (sqrt(gamma) ~ 1e-2 at 300-D).
    scale = np.linalg.norm(exact, axis=1)[:, None] + np.linalg.norm(table.pivots, axis=1)[None, :]
    assert low.dtype == np.float32 and np.all(high - low <= 0.05 * scale + 1e-6)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 40), st.integers(1, 70), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_sparse_nonzero_equals_numpy(n_rows, n_cols, density, seed):
    # Any shape (sizes that are not a multiple of 8 included), any density, and a view.
    mask = np.random.default_rng(seed).random((n_rows, n_cols)) < density
    for m in (mask, mask[::2], mask[:, 1:]):
        rows, cols = sparse_nonzero(m)
        expected_rows, expected_cols = np.nonzero(m)
        assert np.array_equal(rows, expected_rows) and np.array_equal(cols, expected_cols)


def test_forked_map_runs_in_other_processes_in_order():
    # A closure over an array: forked workers inherit both, nothing is pickled but items.
    data = np.arange(1000) * 3
    results = list(forked_map(lambda i: (int(data[i]), os.getpid()), range(40), 2))
    assert [value for value, _ in results] == [int(data[i]) for i in range(40)]
    assert os.getpid() not in {pid for _, pid in results}


def test_forked_map_cancels_what_has_not_started_when_its_caller_stops():
    import multiprocessing

    started = multiprocessing.Value("i", 0)  # shared with the forked workers
    block = np.random.default_rng(0).random((300, 300))

    def work(i):
        with started.get_lock():
            started.value += 1
        return float(np.linalg.matrix_power(block, 8).sum()) * 0 + i  # a few ms each

    results = forked_map(work, range(400), 2)
    assert [next(results) for _ in range(2)] == [0, 1]
    results.close()
    assert started.value < 200


def test_a_worker_process_that_dies_is_a_clear_error():
    with pytest.raises(RuntimeError, match="a worker process died .*retry with n_jobs=1"):
        list(forked_map(lambda i: os._exit(3) if i == 5 else i, range(20), 2))


def test_a_large_mapper_on_worker_processes_equals_one_thread():
    # Every point is in an element: from 20,000 element rows on, n_jobs=2 forks worker processes.
    X, _ = relu_gaussian_mixture(PROCESS_MIN_ROWS, dim=24, n_clusters=6, seed=4)
    params = dict(n_intervals=10, overlap=0.3, eps="hausdorff", min_samples=8)
    single = Mapper(**params, n_jobs=1).fit(X)
    forked = Mapper(**params, n_jobs=2).fit(X)
    assert single.graph_ == forked.graph_ and single.graph_.n_nodes > 6
    assert single.search_stats_ == forked.search_stats_


def test_the_same_labels_for_any_number_of_threads_and_any_seed():
    # 20,000 points: threads are used from that size on (smaller sets run on one).
    X, _ = relu_gaussian_mixture(20_000, dim=12, n_clusters=6, seed=2)
    sample = X[:: 10]
    eps = float(np.quantile(NearestNeighbors(n_neighbors=6).fit(sample).kneighbors(sample)[0][:, -1], 0.5))
    reference, core = pruned_dbscan(X, None, eps, 6, n_jobs=1, random_state=0)
    assert 0 < core.mean() < 1 and reference.max() >= 1  # clusters, core and non-core points
    for n_jobs, seed in ((2, 0), (2, 5), (1, 9)):
        labels, is_core = pruned_dbscan(X, None, eps, 6, n_jobs=n_jobs, random_state=seed, leaf_size=48)
        assert np.array_equal(labels, reference) and np.array_equal(is_core, core)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_the_mapper_graph_is_the_same_with_and_without_the_shared_graph(metric):
    X, _ = relu_gaussian_mixture(2500, dim=20, n_clusters=5, seed=1)
    X = X + 0.1
    params = dict(n_intervals=12, overlap=0.4, eps="auto", min_samples=5, metric=metric)
    pruned = Mapper(**params).fit(X)
    shared = Mapper(**params, warm_start=True).fit(X)
    assert pruned.neighbors_ is None and shared.neighbors_ is not None
    assert [m.tolist() for m in pruned.graph_.node_members] == [m.tolist() for m in shared.graph_.node_members]
    assert np.array_equal(pruned.graph_.edges, shared.graph_.edges)


def test_cosine_with_an_all_zero_row_is_a_clear_error():
    X = np.ones((10, 3))
    X[4] = 0.0
    with pytest.raises(ValueError, match="cosine distance is undefined for all-zero rows; X has 1 such rows"):
        pruned_dbscan(X, None, 0.5, 3, metric="cosine")

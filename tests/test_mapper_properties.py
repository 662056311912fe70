"""Properties that hold for every input: checked on generated data with hypothesis."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from topoact.mapper import Mapper
from topoact.mapper.neighbors import EpsilonGraph

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def point_clouds(draw):
    n = draw(st.integers(20, 260))
    dim = draw(st.integers(1, 12))
    n_clusters = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=draw(st.floats(0.5, 8.0)), size=(n_clusters, dim))
    X = centres[rng.integers(0, n_clusters, n)] + rng.normal(size=(n, dim))
    if draw(st.booleans()):
        X = np.maximum(X, 0.0)  # ReLU-like, with exact zeros and repeated values
    return X


@st.composite
def mapper_params(draw):
    return dict(
        n_intervals=draw(st.integers(1, 12)),
        overlap=draw(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7])),
        eps=draw(st.sampled_from(["auto", "knee", 0.5, 1.5, 3.0])),
        min_samples=draw(st.integers(1, 8)),
        min_intersection=draw(st.integers(1, 3)),
        lens=draw(st.sampled_from(["l2norm", "l1norm", "pca", "pca2"])),
        cover=draw(st.sampled_from(["uniform", "balanced"])),
    )


def member_sets(graph, relabel=None):
    relabel = (lambda m: m) if relabel is None else relabel
    return {frozenset(relabel(m).tolist()) for m in graph.node_members}


@SETTINGS
@given(point_clouds(), mapper_params())
def test_nodes_lie_in_one_element_and_edges_follow_shared_members(X, params):
    mapper = Mapper(**params).fit(X)
    graph = mapper.graph_
    membership = mapper.cover_.transform(mapper.lens_values_).tocsc()
    for members, element in zip(graph.node_members, graph.node_element):
        column = set(membership[:, element].nonzero()[0].tolist())
        assert set(members.tolist()) <= column
        assert np.all(np.diff(members) > 0)  # sorted, no repeats
    # An edge exactly when two nodes share >= min_intersection members.
    expected = set()
    for i in range(graph.n_nodes):
        for j in range(i + 1, graph.n_nodes):
            shared = np.intersect1d(graph.node_members[i], graph.node_members[j]).size
            if shared >= params["min_intersection"]:
                expected.add((i, j, shared))
    assert {(int(i), int(j), int(s)) for (i, j), s in zip(graph.edges, graph.edge_shared)} == expected
    # Noise is counted, never a node.
    assert graph.n_noise == X.shape[0] - np.unique(np.concatenate(graph.node_members or [np.empty(0, int)])).size


@SETTINGS
@given(point_clouds(), mapper_params(), st.integers(0, 2**31 - 1))
def test_same_graph_for_any_jobs_and_any_row_order(X, params, seed):
    reference = Mapper(**params, n_jobs=1).fit(X).graph_
    threaded = Mapper(**params, n_jobs=2).fit(X).graph_
    assert threaded == reference
    permutation = np.random.default_rng(seed).permutation(X.shape[0])
    shuffled = Mapper(**params).fit(X[permutation]).graph_
    # Same member sets once rows are mapped back; same edges between them.
    assert member_sets(shuffled, lambda m: permutation[m]) == member_sets(reference)
    ref_edges = {frozenset((frozenset(reference.node_members[i].tolist()), frozenset(reference.node_members[j].tolist())))
                 for i, j in reference.edges}
    shuf_edges = {frozenset((frozenset(permutation[shuffled.node_members[i]].tolist()),
                             frozenset(permutation[shuffled.node_members[j]].tolist())))
                  for i, j in shuffled.edges}
    assert shuf_edges == ref_edges


@SETTINGS
@given(point_clouds(), st.floats(0.05, 6.0), st.sampled_from(["euclidean", "cosine"]),
       st.integers(1, 9), st.sampled_from([0.0, 0.3, 0.6]))
def test_epsilon_graph_is_exactly_the_float64_pairs_within_eps(X, eps, metric, n_intervals, overlap):
    if metric == "cosine":
        X = X[np.linalg.norm(X, axis=1) > 0]
        if X.shape[0] < 2:
            return
        eps = eps / 10
    from topoact.mapper import UniformCover

    lens = np.linalg.norm(X, axis=1, keepdims=True)
    cover = UniformCover(n_intervals=n_intervals, overlap=overlap).fit(lens)
    membership = cover.transform(lens)
    graph = EpsilonGraph.build(X, lens, eps, metric=metric, chunk_size=16, n_pivots=8)
    graph.extend(membership)
    distance = cdist(X, X, metric=metric)
    for e in range(membership.shape[1]):
        members = membership[:, e].nonzero()[0]
        first, second, local = graph.edges_within(members)
        rows_of_local = np.empty(members.size, dtype=int)
        rows_of_local[local] = members
        found = {frozenset((rows_of_local[a], rows_of_local[b])) for a, b in zip(first, second)}
        sub = distance[np.ix_(members, members)]
        i, j = np.nonzero(np.triu(sub <= eps, k=1))
        expected = {frozenset((members[a], members[b])) for a, b in zip(i, j)}
        near = np.abs(sub - eps) <= 1e-12 * max(eps, 1)
        if near.any():  # cdist and the engine may round a tie differently
            continue
        assert found == expected


def test_epsilon_graph_exact_where_float32_cancels():
    """Large norms and tiny spread: float32 |x|^2 + |y|^2 - 2xy loses every digit, the
    float64 re-check must decide."""
    rng = np.random.default_rng(0)
    X = 1000.0 + rng.normal(scale=0.01, size=(400, 64))
    eps = float(np.median(cdist(X[:50], X[:50])))
    graph = EpsilonGraph.build(X, np.zeros((400, 1)), eps)
    graph.extend(sp.csc_matrix(np.ones((400, 1), dtype=bool)))
    first, second, local = graph.edges_within(np.arange(400))
    rows = np.empty(400, dtype=int)
    rows[local] = np.arange(400)
    found = {frozenset((rows[a], rows[b])) for a, b in zip(first, second)}
    distance = cdist(X, X)
    i, j = np.nonzero(np.triu(distance <= eps, k=1))
    assert found == {frozenset(p) for p in zip(i, j)}
    assert graph.pairs_rechecked > 0


def test_fit_does_not_modify_the_data():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        X = np.abs(rng.normal(size=(300, 8))).astype(dtype)
        before = X.copy()
        for metric in ("euclidean", "cosine"):
            Mapper(n_intervals=5, metric=metric).fit(X)
            np.testing.assert_array_equal(X, before)


def test_interrupted_search_is_redone_not_trusted():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 6))
    lens = np.linalg.norm(X, axis=1, keepdims=True)
    everything = sp.csc_matrix(np.ones((600, 1), dtype=bool))
    fresh = EpsilonGraph.build(X, lens, 1.5, chunk_size=16, n_pivots=4)
    fresh.extend(everything)

    def stop_halfway(done, total):
        if done > total // 2:
            raise KeyboardInterrupt

    graph = EpsilonGraph.build(X, lens, 1.5, chunk_size=16, n_pivots=4)
    with pytest.raises(KeyboardInterrupt):
        graph.extend(everything, progress=stop_halfway)
    assert graph.extend(everything) > 0  # nothing was marked as done
    assert graph.n_edges == fresh.n_edges
    first, second, local = graph.edges_within(np.arange(600))
    again = fresh.edges_within(np.arange(600))
    assert np.array_equal(first, again[0]) and np.array_equal(second, again[1])

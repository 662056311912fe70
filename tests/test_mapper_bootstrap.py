"""Bootstrap confidence for each component, loop and flare (issue 13)."""

import numpy as np
import pytest

from topoact import TopoactError
from topoact.anomaly import feature_confidence, graph_features, structure_report
from topoact.mapper import Mapper, bootstrap_graphs
from topoact.synthetic import embedded_shape, planar_shape


@pytest.fixture(scope="module")
def circle():
    X = embedded_shape("circle", 1500, dim=16, noise=0.03, seed=4)
    mapper = Mapper(lens="pca", n_intervals=10, eps="hausdorff", warm_start=True).fit(X)
    return X, mapper


def test_resamples_are_the_same_with_or_without_the_shared_graph(circle):
    # Without warm start each resample's elements run the pruned DBSCAN with the
    # multiplicities as weights; the shared graph's weighted core test must agree.
    X, warm = circle
    cold = Mapper(lens="pca", n_intervals=10, eps="hausdorff", min_samples=8).fit(X)
    warm = Mapper(lens="pca", n_intervals=10, eps="hausdorff", min_samples=8, warm_start=True).fit(X)
    assert cold.neighbors_ is None and warm.neighbors_ is not None
    for ours, theirs in zip(bootstrap_graphs(cold, X, 6, random_state=3), bootstrap_graphs(warm, X, 6, random_state=3)):
        assert sorted(map(tuple, ours.node_members)) == sorted(map(tuple, theirs.node_members))
        assert ours.n_edges == theirs.n_edges


def test_the_circles_loop_persists_in_almost_every_resample(circle):
    X, mapper = circle
    searched = mapper.neighbors_.pairs_computed
    resamples = bootstrap_graphs(mapper, X, 20, random_state=1)
    assert len(resamples) == 20
    # Warm start: every resample reuses the full data's epsilon-graph, no new search.
    assert mapper.neighbors_.pairs_computed == searched
    features = graph_features(mapper.graph_)
    assert [f.kind for f in features] == ["component", "loop"]
    share = feature_confidence(mapper.graph_, resamples, features=features)
    assert share.min() >= 0.9
    # Resamples differ from the original (rows drawn with replacement: ~63 % distinct).
    covered = [g.covered_points.size for g in resamples]
    assert max(covered) < 0.7 * X.shape[0]


def test_a_spurious_fragment_has_low_confidence():
    # A line with a gap-free middle but far too small an eps: fragments that come and go.
    X = planar_shape("line", 600, noise=0.01, seed=0)
    mapper = Mapper(lens=X[:, 0].copy(), n_intervals=6, eps=0.02, min_samples=4).fit(X)
    assert mapper.graph_.n_components > 1
    share = feature_confidence(mapper.graph_, bootstrap_graphs(mapper, X, 20, random_state=0))
    kinds = [f.kind for f in graph_features(mapper.graph_)]
    components = share[[k == "component" for k in kinds]]
    assert components.min() < 0.5


def test_bootstrap_is_seeded(circle):
    X, mapper = circle
    a = bootstrap_graphs(mapper, X, 3, random_state=7)
    b = bootstrap_graphs(mapper, X, 3, random_state=7)
    c = bootstrap_graphs(mapper, X, 3, random_state=8)
    assert a == b
    assert a != c


def test_weights_count_duplicates_in_the_core_test():
    # Two points within eps, drawn 3 and 2 times: core with min_samples 5, noise without weights.
    from topoact.mapper import dbscan_labels

    first, second = np.array([0]), np.array([1])
    assert dbscan_labels(2, first, second, 5).tolist() == [-1, -1]
    assert dbscan_labels(2, first, second, 5, weights=np.array([3.0, 2.0])).tolist() == [0, 0]


def test_structure_report_states_the_confidence(circle):
    X, mapper = circle
    labels = (planar_shape("circle", 1500, noise=0.03, seed=4)[:, 1] > 0).astype(int)
    findings = structure_report(mapper.graph_, labels, layer="toy", resamples=bootstrap_graphs(mapper, X, 10))
    loop = next(f for f in findings if f.kind == "loop")
    assert loop.n_resamples == 10 and loop.confidence >= 0.9
    assert loop.sentence.startswith("toy has a loop through classes")
    assert loop.sentence.endswith(f"seen in {100 * loop.confidence:.0f} % of 10 resamples")
    assert "nodes cube" in loop.sentence
    plain = structure_report(mapper.graph_, labels, layer="toy")
    assert all(f.confidence is None and "resamples" not in f.sentence for f in plain)


def test_other_clusterers_and_adaptive_eps_bootstrap_too():
    X = embedded_shape("blobs", 900, dim=4, noise=0.02, seed=0)
    for mapper in (Mapper(lens="pca", n_intervals=5, eps="adaptive"),
                   Mapper(lens="pca", n_intervals=5, clusterer="hdbscan")):
        mapper.fit(X)
        graphs = bootstrap_graphs(mapper, X, 2)
        assert all(g.n_points == X.shape[0] and g.n_nodes > 0 for g in graphs)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "50"])
def test_resample_count_below_one_is_one_clear_error(circle, bad):
    X, mapper = circle
    with pytest.raises(TopoactError, match="resamples >= 1"):
        bootstrap_graphs(mapper, X, bad)


def test_bootstrap_needs_the_data_it_was_fitted_on(circle):
    X, mapper = circle
    with pytest.raises(TopoactError, match="pass the data it was fitted on"):
        bootstrap_graphs(mapper, X[:100], 2)

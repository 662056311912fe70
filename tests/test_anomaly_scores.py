"""Anomaly scores on hand-built Mapper graphs with known answers, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from topoact import TopoactError
from topoact.anomaly import (
    aggregate_by_sample,
    anomaly_scores,
    combine_scores,
    graph_scores,
    node_anomaly_summary,
    rank_samples,
    stability,
    vector_scores,
)
from topoact.anomaly.evaluation import evaluate_scores, flip_labels, precision_at_k
from topoact.mapper import Mapper
from topoact.mapper.graph import MapperGraph


def make_graph(members: list[list[int]], edges: list[tuple[int, int]], n_points: int) -> MapperGraph:
    """A MapperGraph from explicit node members and edges."""
    node_members = [np.array(sorted(m), dtype=np.int64) for m in members]
    edge_arr = np.array(sorted(edges), dtype=np.int64).reshape(-1, 2)
    shared = np.array([np.intersect1d(node_members[i], node_members[j]).size for i, j in edge_arr], dtype=np.int64)
    n = len(members)
    return MapperGraph(
        node_members=node_members, node_element=np.arange(n), node_cluster=np.zeros(n, np.int64),
        edges=edge_arr, edge_shared=shared, n_points=n_points,
        lens_mean=np.zeros((n, 1)), lens_min=np.zeros((n, 1)), lens_max=np.zeros((n, 1)),
    )


@pytest.fixture
def known():
    """Rows 0-9 class 0 in nodes A, B (overlap 4-5); row 3 labelled 1 (the mislabelled one);
    rows 10-19 class 1 in node C; rows 20-21 class 1 in a tiny separate node D; row 22 in no node."""
    labels = np.array([0] * 10 + [1] * 10 + [1, 1, 0])
    labels[3] = 1
    graph = make_graph([list(range(0, 6)), list(range(4, 10)), list(range(10, 20)), [20, 21]],
                       [(0, 1)], n_points=23)
    return graph, labels


def test_node_disagreement_and_purity_known_answers(known):
    graph, labels = known
    scores = graph_scores(graph, labels)
    # row 3 (label 1) is in node A whose members are 5 x class 0, 1 x class 1
    assert scores.loc[3, "node_disagreement"] == pytest.approx(5 / 6)
    assert scores.loc[0, "node_disagreement"] == pytest.approx(1 / 6)
    # row 7 is in node B (pure class 0)
    assert scores.loc[7, "node_disagreement"] == pytest.approx(0.0)
    # row 4 is in A (2 labels) and B (1 label): purity (1/2 + 1) / 2
    assert scores.loc[4, "impurity"] == pytest.approx(1 - 0.75)
    assert scores.loc[3, "impurity"] == pytest.approx(0.5)
    assert scores.loc[15, "impurity"] == pytest.approx(0.0)
    assert scores.loc[3, "node_majority"] == 0
    assert scores.loc[4, "n_nodes"] == 2


def test_noise_and_small_components(known):
    graph, labels = known
    scores = graph_scores(graph, labels)
    assert scores["noise"].tolist() == [0.0] * 22 + [1.0]
    # without vectors a noise row has no node evidence: NaN, not 0
    assert np.isnan(scores.loc[22, "node_disagreement"])
    # tiny separate node D scores higher than the bulk; the biggest component scores 0 on its biggest node
    # rows 20-21: a 2-member node, alone in its component (largest node and component: 10)
    assert scores.loc[20, "small_node"] == pytest.approx(1 - np.log(3) / np.log(11))
    # row 4: largest node 6 members, component of 10 (as large as the largest)
    assert scores.loc[4, "small_node"] == pytest.approx(0.5 * (1 - np.log(7) / np.log(11)))
    assert scores.loc[15, "small_node"] == pytest.approx(0.0)


def test_noise_row_judged_by_nearest_clustered_row(known):
    graph, labels = known
    X = np.zeros((23, 2))
    X[:10, 0] = np.arange(10) * 0.1
    X[10:22, 0] = 10 + np.arange(12) * 0.1
    X[22] = [10.05, 0.0]  # row 22 (label 0) sits among class-1 rows
    scores = graph_scores(graph, labels, vectors=X)
    assert scores.loc[22, "node_disagreement"] == pytest.approx(1.0)
    assert scores.loc[22, "noise"] == 1.0


def test_prediction_disagreement():
    graph = make_graph([[0, 1, 2, 3]], [], n_points=4)
    labels = np.array([0, 0, 0, 1])
    prediction = np.array([0, 0, 1, 1])
    confidence = np.array([0.9, 0.5, 0.8, 0.9])
    scores = graph_scores(graph, labels, prediction, confidence)
    assert scores.loc[2, "prediction_disagreement"] == pytest.approx(0.8)  # disagrees: its confidence
    # agrees with label 1, node is 3/4 class 0: (1 - 0.9) * 0.75
    assert scores.loc[3, "prediction_disagreement"] == pytest.approx(0.1 * 0.75)
    assert scores.loc[0, "prediction_disagreement"] == pytest.approx(0.1 * 0.25)


def test_low_label_probability_and_its_reason():
    graph = make_graph([[0, 1, 2, 3]], [], n_points=4)
    labels = np.array([0, 0, 0, 1])
    probability = np.array([0.95, 0.6, np.nan, 0.02])  # row 2: the model gave no probability
    scores = anomaly_scores(graph, labels, label_probability=probability)
    np.testing.assert_allclose(scores["low_label_probability"].to_numpy()[[0, 1, 3]], [0.05, 0.4, 0.98])
    assert np.isnan(scores.loc[2, "low_label_probability"])
    assert "model gives label 1 only 2%" in scores.loc[3, "reasons"]
    assert scores["rank"].idxmin() == 3
    # the row without a probability is combined from its other scores only
    without = anomaly_scores(graph, labels)
    assert scores.loc[2, "combined"] == pytest.approx(without.loc[2, "combined"])
    with pytest.raises(TopoactError, match="probabilities in"):
        anomaly_scores(graph, labels, label_probability=np.array([0.5, 1.5, 0.2, 0.1]))
    with pytest.raises(TopoactError, match="shape"):
        anomaly_scores(graph, labels, label_probability=np.array([0.5, 0.5]))


def test_vector_scores_knn_and_lof():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2)), [[20.0, 20.0]]])
    labels = np.array([0] * 30 + [1] * 30 + [0])
    labels[5] = 1  # a class-1 label in the class-0 blob
    scores = vector_scores(X, labels, k=5)
    assert scores.loc[5, "knn_disagreement"] == pytest.approx(1.0)
    assert scores.loc[6, "knn_disagreement"] <= 0.2
    assert scores["lof"].idxmax() == 60
    assert scores.loc[60, "lof"] > 0.5 and scores.loc[0, "lof"] < 0.3


def test_combined_rank_reasons_and_determinism(known):
    graph, labels = known
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 0.1, (10, 3)), rng.normal(3, 0.1, (12, 3)), [[0.0, 0.0, 0.0]]])
    a = anomaly_scores(graph, labels, vectors=X, k=3)
    b = anomaly_scores(graph, labels, vectors=X, k=3)
    pd.testing.assert_frame_equal(a, b)
    assert a["rank"].idxmin() == 3  # the mislabelled row ranks first
    assert "node majority 0" in a.loc[3, "reasons"]
    assert "nearest neighbours" in a.loc[3, "reasons"]
    assert "never clustered" in a.loc[22, "reasons"]
    assert a.loc[7, "reasons"] == ""
    scores = a[[c for c in a.columns if c not in ("label", "n_nodes", "node_majority", "rank", "reasons")]]
    assert ((scores.fillna(0) >= 0) & (scores.fillna(0) <= 1)).all().all()
    top = rank_samples(a, top=2)
    assert top.index[0] == 3 and len(top) == 2
    assert rank_samples(a, by="knn_disagreement").index[0] in (3,)


def test_combine_scores_skips_missing_values():
    frame = pd.DataFrame({"node_disagreement": [np.nan, 1.0], "knn_disagreement": [1.0, 1.0]})
    np.testing.assert_allclose(combine_scores(frame, {"node_disagreement": 1, "knn_disagreement": 1}), [1.0, 1.0])
    with pytest.raises(TopoactError, match="unknown score"):
        combine_scores(frame, {"bogus": 1.0})


def test_node_summary(known):
    graph, labels = known
    scores = anomaly_scores(graph, labels)
    summary = node_anomaly_summary(graph, scores, top=1)
    assert summary.index[0] == "cube0_cluster0"  # node A holds the mislabelled row
    assert summary.loc["cube0_cluster0", "n_minority"] == 1
    assert summary.loc["cube0_cluster0", "top_rows"] == [3]
    assert summary.loc["cube2_cluster0", "purity"] == 1.0


def test_aggregate_by_sample_averages_rows(known):
    graph, labels = known
    scores = anomaly_scores(graph, labels)
    sample = np.arange(23) // 2  # pairs of rows per "sample" (labels of a pair may differ here)
    out = aggregate_by_sample(scores, sample)
    assert len(out) == 12 and out["n_rows"].tolist() == [2] * 11 + [1]
    assert out.loc[1, "node_disagreement"] == pytest.approx(scores.loc[[2, 3], "node_disagreement"].mean())
    assert out["rank"].min() == 1
    with pytest.raises(TopoactError, match="sample_index"):
        aggregate_by_sample(scores, sample[:-1])


def test_bad_input_is_a_clear_error(known):
    graph, labels = known
    with pytest.raises(TopoactError, match="need labels"):
        anomaly_scores(graph, None)
    with pytest.raises(TopoactError, match="every label is -1"):
        anomaly_scores(graph, np.full(23, -1))
    with pytest.raises(TopoactError, match="one entry per graph point"):
        anomaly_scores(graph, labels[:5])
    with pytest.raises(TopoactError, match="vectors"):
        anomaly_scores(graph, labels, vectors=np.zeros((5, 2)))
    with pytest.raises(TopoactError, match="prediction"):
        anomaly_scores(graph, labels, prediction=np.zeros(3, int))
    with pytest.raises(TopoactError, match="MapperGraph"):
        anomaly_scores("not a graph", labels)
    with pytest.raises(TopoactError, match="top"):
        rank_samples(anomaly_scores(graph, labels), top=0)


def test_single_node_graph():
    graph = make_graph([[0, 1, 2, 3, 4]], [], n_points=5)
    labels = np.array([0, 0, 0, 0, 1])
    scores = anomaly_scores(graph, labels, vectors=np.arange(10.0).reshape(5, 2), k=2)
    assert scores["small_node"].eq(0).all()  # one node: nothing is small relative to it
    assert scores["rank"].idxmin() == 4


def test_stability_with_warm_start_sweep():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.3, (80, 4)) + [3, 0, 0, 0], rng.normal(0, 0.3, (80, 4)) + [0, 3, 0, 0]])
    labels = np.array([0] * 80 + [1] * 80)
    labels[[5, 100]] = [1, 0]
    out = stability(X, labels, Mapper(n_intervals=5, overlap=0.3, min_samples=3),
                    settings=[(4, 0.3), (6, 0.4), (8, 0.5)], top=2)
    assert out.shape[0] == 160 and out.shape[1] == 5
    assert out.loc[5, "stability"] == 1.0 and out.loc[100, "stability"] == 1.0
    assert out["stability"].sum() == pytest.approx(2.0)  # each setting names exactly `top` rows
    with pytest.raises(TopoactError, match="setting"):
        stability(X, labels, Mapper(), settings=[], top=2)


def test_flip_precision_auroc():
    labels = np.repeat(np.arange(10), 20)
    noisy, flipped = flip_labels(labels, 0.05, n_classes=10, seed=3)
    assert flipped.sum() == 10 and np.all(noisy[flipped] != labels[flipped])
    assert np.array_equal(noisy[~flipped], labels[~flipped])
    again, _ = flip_labels(labels, 0.05, n_classes=10, seed=3)
    assert np.array_equal(noisy, again)
    perfect = flipped.astype(float)
    assert precision_at_k(perfect, flipped) == 1.0
    table = evaluate_scores({"perfect": perfect, "reverse": -perfect}, flipped)
    assert table.loc["perfect", "auroc"] == 1.0 and table.loc["reverse", "auroc"] == 0.0

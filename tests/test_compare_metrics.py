"""graph_metrics on hand-built Mapper graphs whose numbers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from topoact import TopoactError
from topoact.compare import METRIC_COLUMNS, graph_metrics, label_separation
from topoact.mapper import Mapper, MapperGraph, nerve_edges


def graph_of(members: list[list[int]], n_points: int, lens: list[float] | None = None) -> MapperGraph:
    """A graph with the given node members; edges are the nerve (nodes sharing a member)."""
    node_members = [np.array(sorted(m), dtype=np.int64) for m in members]
    edges, shared = nerve_edges(node_members, n_points, 1)
    n = len(members)
    values = np.array(lens if lens is not None else [0.0] * n, dtype=np.float64).reshape(n, 1)
    return MapperGraph(node_members, np.arange(n), np.zeros(n, np.int64), edges, shared, n_points,
                       values, values, values)


@pytest.fixture
def hand_built():
    """Points 0-9 class 0 (point 5 mislabelled 1), 10-17 class 1, 18-19 class 2 and in no node.

    N0 {0,1,2,3}, N1 {3,4,5,6}, N2 {6,7,8,0}: a triangle (one loop); N3 {8,9,10,11} hangs off N2
    (N2 has degree 3: one branch point); N4 {12,13} and N5 {14..17} are components of their own.
    """
    labels = np.array([0] * 10 + [1] * 8 + [2, 2])
    labels[5] = 1
    members = [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 0], [8, 9, 10, 11], [12, 13], [14, 15, 16, 17]]
    return graph_of(members, 20, lens=[1, 2, 3, 4, 5, 6]), labels


def test_counts_purities_noise_and_lens(hand_built):
    graph, labels = hand_built
    row = graph_metrics(graph, labels)
    assert list(row) == list(METRIC_COLUMNS)
    assert (row["nodes"], row["edges"], row["components"], row["loops"], row["branch_points"]) == (6, 4, 3, 1, 1)
    # node purities 1, .75, 1, .5, 1, 1 with sizes 4, 4, 4, 4, 2, 4
    assert row["mean_purity"] == pytest.approx(5.25 / 6)
    assert row["weighted_purity"] == pytest.approx((4 + 3 + 4 + 2 + 2 + 4) / 22)
    # point purity: 1 / distinct labels of each node, averaged over a point's nodes, over the 18 clustered points:
    # 0,1,2,7 -> 1; 3 (N0, N1) and 6 (N1, N2) -> .75; 4,5 -> .5; 8 (N2, N3) -> .75; 9,10,11 -> .5; 12-17 -> 1
    assert row["point_purity"] == pytest.approx((4 + 0.75 + 0.75 + 1.0 + 0.75 + 1.5 + 6) / 18)
    assert row["noise_fraction"] == pytest.approx(2 / 20)
    assert row["mean_lens"] == pytest.approx((4 * 1 + 4 * 2 + 4 * 3 + 4 * 4 + 2 * 5 + 4 * 6) / 22)
    # the mislabelled point 5 (label 1 in a class-0 node) is the one anomaly; noise points alone are not
    assert row["anomalies"] == 1
    assert 0.0 < row["label_ami"] < 1.0


def test_label_separation_is_one_when_nodes_are_the_classes_and_about_zero_for_mixed_nodes():
    labels = np.array([0] * 6 + [1] * 6)
    classes = graph_of([list(range(6)), list(range(6, 12))], 12)
    assert label_separation(classes, labels) == pytest.approx(1.0)
    mixed = graph_of([[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]], 12)
    assert label_separation(mixed, labels) < 0.05  # chance level (tiny samples land below 0)
    # pure nodes that split each class in two: in between (AMI also counts the split)
    split = graph_of([[0, 1, 2, 3], [3, 4, 5], [6, 7, 8], [8, 9, 10, 11]], 12)
    assert 0.3 < graph_metrics(split, labels)["label_ami"] < 0.9
    # unlabelled rows (-1) are left out
    partly = labels.copy()
    partly[[0, 6]] = -1
    assert label_separation(classes, partly) == pytest.approx(1.0)


def test_without_labels_only_shape_numbers_and_bad_labels_raise(hand_built):
    graph, _ = hand_built
    for labels in (None, np.full(20, -1)):
        row = graph_metrics(graph, labels)
        assert row["nodes"] == 6 and row["loops"] == 1
        assert all(math.isnan(row[k]) for k in ("mean_purity", "weighted_purity", "point_purity", "label_ami", "anomalies"))
    with pytest.raises(TopoactError, match="one entry per graph point"):
        graph_metrics(graph, np.zeros(5))
    with pytest.raises(TopoactError, match="MapperGraph"):
        graph_metrics("not a graph")


def test_empty_graph_is_all_noise():
    graph = Mapper(n_intervals=3, eps=1e-9, min_samples=3).fit(np.arange(30.0).reshape(10, 3)).graph_
    row = graph_metrics(graph, np.zeros(10, dtype=int))
    assert row["nodes"] == 0 and row["noise_fraction"] == 1.0 and math.isnan(row["mean_purity"])


def test_vectors_and_predictions_feed_the_anomaly_count(hand_built):
    graph, labels = hand_built
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 3)) + 5.0 * labels[:, None]
    prediction = labels.copy()
    prediction[5] = 0  # the model sees point 5 as the class of its node
    with_evidence = graph_metrics(graph, labels, vectors=vectors, prediction=prediction, confidence=np.full(20, 0.99))
    assert with_evidence["anomalies"] >= 1
    assert with_evidence["nodes"] == 6

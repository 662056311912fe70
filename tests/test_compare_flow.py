"""Member flow on constructed splits and merges; the two graph distances."""

from __future__ import annotations

import numpy as np
import pytest

from topoact import TopoactError
from topoact.compare import NOISE, flow_distance, graph_distance, member_flow, shape_distance
from topoact.mapper import MapperGraph, nerve_edges


def graph_of(members: list[list[int]], n_points: int) -> MapperGraph:
    """Nodes with these members; edges are the nerve; node i is cube{i}_cluster0."""
    node_members = [np.array(sorted(m), dtype=np.int64) for m in members]
    edges, shared = nerve_edges(node_members, n_points, 1)
    n = len(members)
    lens = np.arange(n, dtype=np.float64).reshape(n, 1)
    return MapperGraph(node_members, np.arange(n), np.zeros(n, np.int64), edges, shared, n_points, lens, lens, lens)


def ids(*nodes: int) -> list[str]:
    return [f"cube{i}_cluster0" for i in nodes]


@pytest.fixture
def split_and_merge():
    """A: a0 = 0-9, a1 = 10-19, a2 = 20-29, points 30 and 31 in no node.
    B: b0 = 0-4 and b1 = 5-9 (a0 split, no edge between them), b2 = 10-30 (a1 and a2 merged, with
    A's noise point 30), point 31 in no node. Labels: 0-9 class 0, 10-19 class 1, the rest class 2."""
    a = graph_of([range(0, 10), range(10, 20), range(20, 30)], 32)
    b = graph_of([range(0, 5), range(5, 10), range(10, 31)], 32)
    labels = np.array([0] * 10 + [1] * 10 + [2] * 12)
    return a, b, labels


def test_split_and_merge_are_found_and_named(split_and_merge):
    a, b, labels = split_and_merge
    flow = member_flow(a, b, labels=labels, names=("early", "late"))
    assert [(e.kind, e.node) for e in flow.events] == [("split", ids(0)[0]), ("merge", ids(2)[0])]
    split, merge = flow.splits[0], flow.merges[0]
    assert split.parts == [ids(0), ids(1)] and split.shares == [0.5, 0.5] and split.size == 10
    assert merge.parts == [ids(1), ids(2)] and merge.size == 21
    assert merge.shares == pytest.approx([10 / 21, 10 / 21])
    assert split.sentence.startswith("early cube0_cluster0 (10 members, mostly 0) splits in late into")
    assert "cube0_cluster0 (50%, mostly 0)" in split.sentence and "cube1_cluster0 (50%, mostly 0)" in split.sentence
    assert merge.sentence.startswith("late cube2_cluster0 (21 members, mostly 2) gathers members from early:")
    assert "cube1_cluster0 (48%, mostly 1)" in merge.sentence


def test_counts_weights_matrix_and_where_members_went(split_and_merge):
    a, b, _ = split_and_merge
    flow = member_flow(a, b)
    assert flow.source_ids == ids(0, 1, 2) + [NOISE] and flow.target_ids == ids(0, 1, 2) + [NOISE]
    expected = np.array([[5, 5, 0, 0], [0, 0, 10, 0], [0, 0, 10, 0], [0, 0, 1, 1]])
    np.testing.assert_array_equal(flow.counts, expected)
    # no point is in two nodes here, so the flow of points equals the counts
    np.testing.assert_allclose(flow.weights, expected)
    matrix = flow.matrix(normalise="source")
    assert matrix.loc["cube0_cluster0", "cube1_cluster0"] == 0.5 and matrix.loc[NOISE, NOISE] == 0.5
    assert flow.matrix().loc["cube2_cluster0", "cube2_cluster0"] == 10
    assert flow.where_members_went("cube1_cluster0") == {"cube2_cluster0": 1.0}
    links = flow.links()
    assert len(links) == 6 and links["points"].sum() == 32
    with pytest.raises(TopoactError, match="normalise"):
        flow.matrix(normalise="rows")


def test_points_in_two_nodes_count_once_in_the_flow():
    # node 0 and node 1 of A overlap in points 4-5; B has one node with everything
    a = graph_of([range(0, 6), range(4, 10)], 10)
    b = graph_of([range(0, 10)], 10)
    flow = member_flow(a, b)
    np.testing.assert_array_equal(flow.counts[:, 0], [6, 6, 0])
    assert flow.weights.sum() == pytest.approx(10.0)
    np.testing.assert_allclose(flow.weights[:2, 0], [5.0, 5.0])
    assert flow.events == []  # one B node: nothing splits; A's two nodes share an edge: no merge


def test_spreading_over_neighbouring_nodes_is_not_a_split():
    a = graph_of([range(0, 10)], 10)
    b = graph_of([range(0, 7), range(5, 10)], 10)  # b0 and b1 share 5, 6: an edge
    assert member_flow(a, b).events == []
    apart = graph_of([range(0, 5), range(5, 10)], 10)  # no shared member: no edge
    assert [e.kind for e in member_flow(a, apart).events] == ["split"]


def test_component_level_flow_splits_components():
    a = graph_of([range(0, 6), range(5, 12)], 12)  # one component of 12 points
    b = graph_of([range(0, 4), range(3, 6), range(6, 12)], 12)  # components {0-5} and {6-11}
    node_flow = member_flow(a, b)
    comp_flow = member_flow(a, b, level="component")
    assert comp_flow.source_ids == ["component 1", NOISE]
    assert comp_flow.target_ids == ["component 1", "component 2", NOISE]  # largest first, ties by first node
    np.testing.assert_array_equal(comp_flow.counts, [[6, 6, 0], [0, 0, 0]])
    assert [(e.kind, e.parts) for e in comp_flow.events] == [("split", [["component 1"], ["component 2"]])]
    assert node_flow.events == []  # no single node parts ways: a0 stays in b0+b1, a1 goes to b2
    with pytest.raises(TopoactError, match="unknown flow level"):
        member_flow(a, b, level="edge")


def test_graphs_on_different_inputs_are_refused():
    with pytest.raises(TopoactError, match="same inputs"):
        member_flow(graph_of([range(5)], 5), graph_of([range(6)], 6))


def test_flow_distance_is_zero_for_the_same_grouping_and_grows_with_mixing(split_and_merge):
    a, b, _ = split_and_merge
    assert flow_distance(member_flow(a, a)) == pytest.approx(0.0)
    changed = flow_distance(member_flow(a, b))
    assert 0.0 < changed < 1.0
    # a grouping independent of A's: every node of C takes a third of every node of A
    c = graph_of([[p for p in range(30) if p % 3 == k] for k in range(3)] + [[30, 31]], 32)
    assert flow_distance(member_flow(a, c)) > changed
    assert graph_distance(a, b) == pytest.approx(changed)


def test_shape_distance_sees_shape_not_membership():
    path = graph_of([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]], 6)
    same_shape_other_points = graph_of([[5, 4], [4, 3], [3, 2], [2, 1], [1, 0]], 6)
    loop = graph_of([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 0]], 6)
    two_parts = graph_of([[0, 1], [1, 2], [3, 4], [4, 5]], 6)
    assert shape_distance(path, same_shape_other_points) == pytest.approx(0.0, abs=1e-6)
    to_loop, to_parts = shape_distance(path, loop), shape_distance(path, two_parts)
    assert 0.0 < to_loop < 1.0 and 0.0 < to_parts < 1.0
    assert shape_distance(loop, path) == pytest.approx(to_loop, abs=1e-6)
    assert graph_distance(path, loop, "shape") == pytest.approx(to_loop)
    with pytest.raises(TopoactError, match="no nodes"):
        shape_distance(path, graph_of([], 6))
    with pytest.raises(TopoactError, match="unknown distance"):
        graph_distance(path, loop, "euclid")

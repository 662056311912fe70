"""Structure report on a hand-built graph: a loop through classes 3-5-8, a flare, a hub."""

import numpy as np
import pytest

from topoact import TopoactError
from topoact.anomaly import structure_report
from tests.test_anomaly_scores import make_graph


def test_loop_flare_hub_and_components():
    # nodes 0-3: a square loop (classes 3, 5, 8, 8); node 0 also has a flare 0-4-5 (class 1)
    # and edges to 6, 7 (degree 4 -> hub); node 8 is its own component (class 9)
    members = [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11], [12, 13], [14, 15], [16, 17]]
    labels = np.array([3, 3, 5, 5, 8, 8, 8, 8, 1, 1, 1, 1, 2, 2, 2, 2, 9, 9])
    edges = [(0, 1), (1, 2), (2, 3), (0, 3), (0, 4), (4, 5), (0, 6), (0, 7)]
    graph = make_graph(members, edges, n_points=18)
    findings = structure_report(graph, labels, layer="block2")
    kinds = [f.kind for f in findings]
    assert kinds.count("component") == 2 and kinds.count("loop") == 1 and kinds.count("hub") == 1
    loop = next(f for f in findings if f.kind == "loop")
    assert sorted(set(loop.classes)) == [3, 5, 8]
    assert loop.members.tolist() == list(range(8))
    assert "block2 has a loop through classes" in loop.sentence
    branch = [f for f in findings if f.kind == "branch"]
    assert len(branch) == 1 and branch[0].nodes == ["cube0_cluster0", "cube4_cluster0", "cube5_cluster0"]
    assert branch[0].classes == [3, 1]
    hub = next(f for f in findings if f.kind == "hub")
    assert hub.nodes == ["cube0_cluster0"] and "joins 5 nodes" in hub.sentence
    assert findings[1].counts == {9: 2}


def test_structure_bad_input():
    graph = make_graph([[0, 1]], [], n_points=2)
    with pytest.raises(TopoactError, match="one entry per graph point"):
        structure_report(graph, np.array([1]))
    with pytest.raises(TopoactError, match="no nodes"):
        structure_report(make_graph([], [], n_points=2), np.array([1, 2]))

"""MapperGraph: facts, JSON round trip, networkx, labels."""

import json

import networkx as nx
import numpy as np
import pytest

from topoact.mapper import Mapper, MapperGraph
from topoact.synthetic import blobs, noisy_circle


@pytest.fixture(scope="module")
def fitted():
    X, labels = blobs(n_blobs=3, n_per_blob=150, dim=4, seed=3)
    return Mapper(n_intervals=8, overlap=0.4, eps=2.0, min_samples=4).fit(X), labels


def test_json_round_trip_is_exact(fitted, tmp_path):
    mapper, labels = fitted
    graph = mapper.graph_
    graph.node_data.update(graph.label_summary(labels))
    path = tmp_path / "graph.json"
    text = graph.to_json(path)
    again = MapperGraph.from_json(path)
    assert again == graph
    assert again.to_json() == text
    assert all(np.array_equal(a, b) for a, b in zip(again.node_members, graph.node_members))
    assert np.array_equal(again.lens_mean, graph.lens_mean)  # floats survive bit for bit
    assert again.node_data["label_counts"] == graph.node_data["label_counts"]
    # The documented layout.
    data = json.loads(text)
    assert {"id", "members", "size", "lens_mean"} <= set(data["nodes"][0])
    assert {"source", "target", "shared", "jaccard"} == set(data["edges"][0])
    assert data["summary"]["nodes"] == graph.n_nodes


def test_from_json_rejects_other_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"nodes": []}')
    with pytest.raises(ValueError, match="not a topoact Mapper graph"):
        MapperGraph.from_json(path)
    path.write_text("{broken")
    with pytest.raises(ValueError, match="malformed"):
        MapperGraph.from_json(path)
    with pytest.raises(FileNotFoundError):
        MapperGraph.from_json(tmp_path / "missing.json")


def test_networkx_view_matches(fitted):
    graph = fitted[0].graph_
    nx_graph = graph.to_networkx()
    assert nx_graph.number_of_nodes() == graph.n_nodes
    assert nx_graph.number_of_edges() == graph.n_edges
    assert nx.number_connected_components(nx_graph) == graph.n_components
    assert len(nx.cycle_basis(nx_graph)) == graph.n_loops
    some_edge = graph.edges[0]
    a, b = graph.node_ids[some_edge[0]], graph.node_ids[some_edge[1]]
    shared = len(set(graph.node_members[some_edge[0]]) & set(graph.node_members[some_edge[1]]))
    union = len(set(graph.node_members[some_edge[0]]) | set(graph.node_members[some_edge[1]]))
    assert nx_graph.edges[a, b]["shared"] == shared
    assert nx_graph.edges[a, b]["jaccard"] == pytest.approx(shared / union)


def test_node_ids_are_readable_and_stable():
    X = noisy_circle(500, seed=5)
    first = Mapper(lens=X[:, 0].copy(), n_intervals=6, eps=0.15, min_samples=3).fit(X).graph_
    second = Mapper(lens=X[:, 0].copy(), n_intervals=6, eps=0.15, min_samples=3).fit(X).graph_
    assert first.node_ids == second.node_ids
    assert all(node_id.startswith("cube") and "_cluster" in node_id for node_id in first.node_ids)
    assert len(set(first.node_ids)) == first.n_nodes


def test_label_summary_counts_and_purity(fitted):
    mapper, labels = fitted
    graph = mapper.graph_
    summary = graph.label_summary(labels)
    for members, counts, majority, purity in zip(
        graph.node_members, summary["label_counts"], summary["majority_label"], summary["purity"]
    ):
        values, numbers = np.unique(labels[members], return_counts=True)
        assert dict(counts) == dict(zip(values.tolist(), numbers.tolist()))
        assert majority == values[np.argmax(numbers)]
        assert purity == pytest.approx(numbers.max() / members.size)
    with pytest.raises(ValueError, match="labels has 3 entries"):
        graph.label_summary([1, 2, 3])


def test_lens_statistics_per_node(fitted):
    mapper = fitted[0]
    graph = mapper.graph_
    for i, members in enumerate(graph.node_members):
        values = mapper.lens_values_[members]
        assert graph.lens_mean[i, 0] == pytest.approx(values.mean())
        assert graph.lens_min[i, 0] == values.min() and graph.lens_max[i, 0] == values.max()

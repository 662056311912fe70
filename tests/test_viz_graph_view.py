"""topoact.viz: colour scales, layout stability, graph views, escaping, offline pyvis HTML."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from topoact.mapper import Mapper
from topoact.viz import (
    COLOUR_BY,
    FADED_COLOUR,
    build_graph_view,
    categorical_colours,
    graph_layout,
    graph_view_html,
    node_stats,
    project_2d,
    sequential_colours,
)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6.0, size=(4, 8))
    labels = rng.integers(0, 4, 800)
    X = (centres[labels] + rng.normal(size=(800, 8))).astype(np.float32)
    prediction = np.where(rng.random(800) < 0.1, (labels + 1) % 4, labels)
    confidence = rng.uniform(0.5, 1.0, 800).astype(np.float32)
    graph = Mapper(n_intervals=12, overlap=0.3, min_samples=4).fit(X).graph_
    assert graph.n_nodes > 5
    return graph, labels, prediction, confidence


def test_colour_scales():
    palette = categorical_colours([3, 1, 3], order=[0, 1, 2, 3])
    assert palette[3] != palette[1] and len(palette) == 4
    ramp = sequential_colours([0.0, 0.5, 1.0, np.nan])
    assert ramp[0] == "#440154" and ramp[2] == "#fde725" and ramp[3] == "#c8c8c8"
    assert sequential_colours([2.0, 2.0]) == ["#440154", "#440154"]
    with pytest.raises(ValueError, match="unknown colour scale"):
        sequential_colours([1.0], scale="rainbow")


def test_node_stats_match_members(fitted):
    graph, labels, prediction, confidence = fitted
    stats = node_stats(graph, labels, prediction, confidence)
    for i, members in enumerate(graph.node_members):
        assert stats.sizes[i] == members.size
        assert stats.confidence[i] == pytest.approx(confidence[members].mean(), rel=1e-5)
        assert stats.misclassified[i] == pytest.approx((prediction[members] != labels[members]).mean())
        counts = np.bincount(labels[members], minlength=4)
        assert stats.purity[i] == pytest.approx(counts.max() / members.size)


def test_layout_is_stable_and_spread(fitted):
    graph = fitted[0]
    first, second = graph_layout(graph, seed=0), graph_layout(graph, seed=0)
    assert first.shape == (graph.n_nodes, 2)
    np.testing.assert_array_equal(first, second)
    distances = np.linalg.norm(first[:, None] - first[None], axis=-1)[np.triu_indices(graph.n_nodes, 1)]
    assert np.median(distances) > 20  # not collapsed onto a point


def test_view_colourings_fading_threshold_and_tooltips(fitted):
    graph, labels, prediction, confidence = fitted
    stats = node_stats(graph, labels, prediction, confidence)
    positions = graph_layout(graph)
    names = ["zero", "one", "two", "three"]
    base = build_graph_view(graph, stats, positions, class_names=names, structure_key="k")
    assert len(base.nodes) == graph.n_nodes and len(base.edges) == graph.n_edges
    assert {name for name, _ in base.legend.entries} <= set(names)
    sizes = np.array([n["size"] for n in base.nodes])
    order = np.argsort(graph.node_sizes)
    assert np.all(np.diff(sizes[order]) >= -1e-9)  # radius grows with member count
    for key in COLOUR_BY:
        if key in ("anomaly", "attacked"):
            with pytest.raises(ValueError, match="were given for this graph"):
                build_graph_view(graph, stats, positions, colour_by=key)
            continue
        view = build_graph_view(graph, stats, positions, colour_by=key, class_names=names)
        assert [(n["x"], n["y"]) for n in view.nodes] == [(n["x"], n["y"]) for n in base.nodes]
    purity_view = build_graph_view(graph, stats, positions, colour_by="purity")
    assert purity_view.legend.kind == "continuous" and (purity_view.legend.vmin, purity_view.legend.vmax) == (0.0, 1.0)

    cut = float(np.median(graph.edge_jaccard)) if graph.n_edges else 0.5
    thresholded = build_graph_view(graph, stats, positions, jaccard_threshold=cut)
    assert [e["hidden"] for e in thresholded.edges] == [bool(j < cut) for j in graph.edge_jaccard]
    assert thresholded.n_visible_edges == int((graph.edge_jaccard >= cut).sum())

    searched = build_graph_view(graph, stats, positions, search_label=2)
    holds = [bool(np.any(labels[m] == 2)) for m in graph.node_members]
    assert [not n["faded"] for n in searched.nodes] == holds
    assert all(n["color"]["background"] == FADED_COLOUR for n in searched.nodes if n["faded"])

    tooltip = base.nodes[0]["title"]
    top = stats.label_counts[0][0]
    assert f"size: {graph.node_sizes[0]}" in tooltip
    assert f"{names[top[0]]}: {100 * top[1] / graph.node_sizes[0]:.0f}% ({top[1]})" in tooltip


def test_data_derived_text_is_escaped(fitted):
    graph, labels, prediction, confidence = fitted
    stats = node_stats(graph, labels, prediction, confidence)
    evil = ["<script>alert(1)</script>", "a&b", "<img src=x onerror=1>", '"q"']
    view = build_graph_view(graph, stats, graph_layout(graph), class_names=evil)
    joined = " ".join(n["title"] for n in view.nodes)
    assert "<script>" not in joined and "<img" not in joined
    assert "&lt;script&gt;" in joined or "&lt;img" in joined or "a&amp;b" in joined


def test_pyvis_html_is_offline(fitted):
    graph, labels, prediction, confidence = fitted
    stats = node_stats(graph, labels, prediction, confidence)
    view = build_graph_view(graph, stats, graph_layout(graph))
    page = graph_view_html(view, heading="<b>layer</b>")
    assert "vis.Network" in page and "new vis.DataSet" in page
    assert not re.findall(r"(?:src|href)=\"https?://", page)
    assert "<b>layer</b>" not in page
    assert '"physics": {"enabled": false' in page


def test_view_of_2000_nodes_is_fast():
    rng = np.random.default_rng(1)
    # a synthetic graph of 2,000 nodes in chains (Mapper-like), straight from the data type
    from topoact.mapper import MapperGraph

    n = 2000
    members = [np.array([i, i + 1]) for i in range(n)]
    edges = np.array([[i, i + 1] for i in range(n - 1) if i % 50 != 49], dtype=np.int64)
    graph = MapperGraph(
        node_members=members, node_element=np.arange(n), node_cluster=np.zeros(n, np.int64), edges=edges,
        edge_shared=np.ones(len(edges), np.int64), n_points=n + 1, lens_mean=rng.random((n, 1)),
        lens_min=np.zeros((n, 1)), lens_max=np.ones((n, 1)),
    )
    start = time.perf_counter()
    positions = graph_layout(graph)
    stats = node_stats(graph, rng.integers(0, 10, n + 1))
    view = build_graph_view(graph, stats, positions)
    assert time.perf_counter() - start < 10
    assert len(view.nodes) == n and np.isfinite(positions).all()


def test_projection():
    rng = np.random.default_rng(0)
    coords = project_2d(rng.normal(size=(50, 6)))
    assert coords.shape == (50, 2)
    with pytest.raises(ValueError, match="unknown projection"):
        project_2d(rng.normal(size=(5, 3)), method="tsne-ish")

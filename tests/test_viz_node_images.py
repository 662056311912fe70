"""Graph views with nodes' feature visualizations: tooltips, image nodes, faded nodes, escaping."""

from __future__ import annotations

import numpy as np

from topoact.featvis.images import from_png, png_data_uri, to_png
from topoact.mapper import Mapper
from topoact.viz import build_graph_view, graph_layout, node_stats


def test_images_go_into_tooltips_and_optionally_onto_the_nodes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    X = (rng.normal(scale=5.0, size=(3, 6))[labels] + rng.normal(size=(600, 6))).astype(np.float32)
    graph = Mapper(n_intervals=8, min_samples=4).fit(X).graph_
    stats, positions = node_stats(graph, labels), graph_layout(graph)
    ids = graph.node_ids
    uri = png_data_uri(to_png(np.full((8, 8), 200, np.uint8), 64))
    images = {ids[0]: uri, ids[1]: 'data:image/png;base64,AA"onerror="alert(1)'}

    plain = build_graph_view(graph, stats, positions, node_images=images)
    assert plain.nodes[0]["title"].startswith(f'<img src="{uri}"')
    assert '"onerror="' not in plain.nodes[1]["title"] and "&quot;onerror=&quot;" in plain.nodes[1]["title"]
    assert "<img" not in plain.nodes[2]["title"]
    assert {n["shape"] for n in plain.nodes} == {"dot"} and all("image" not in n for n in plain.nodes)

    icons = build_graph_view(graph, stats, positions, node_images=images, image_nodes=True)
    first = icons.nodes[0]
    assert first["shape"] == "circularImage" and first["image"] == uri and first["borderWidth"] == 3
    assert first["color"]["border"] == first["color"]["background"]  # bordered in the node's colour
    assert first["size"] > plain.nodes[0]["size"]
    assert [n["shape"] for n in icons.nodes[2:]] == ["dot"] * (graph.n_nodes - 2)
    assert [n["x"] for n in icons.nodes] == [n["x"] for n in plain.nodes]

    # a class search fades the node: it goes back to a dot
    other = next(label for label in range(3) if all(lab != label for lab, _ in stats.label_counts[0]))
    faded = build_graph_view(graph, stats, positions, node_images=images, image_nodes=True, search_label=other)
    assert faded.nodes[0]["faded"] and faded.nodes[0]["shape"] == "dot"
    assert from_png(to_png(np.zeros((8, 8, 1), np.uint8), 64)).shape == (64, 64, 1)

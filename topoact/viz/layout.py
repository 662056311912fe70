"""Node positions for drawing a Mapper graph: computed once, reused for every colouring.

Each connected component is laid out on its own with a force-directed (Fruchterman-
Reingold) layout from :mod:`networkx`, started from the lens order (low lens values on
the left, as TopoAct drew its graphs) so the picture reads the same way every time.
Components are then packed in rows, largest first. The result only depends on the
graph and the seed, so a recoloured graph keeps its positions.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from topoact.mapper.graph import MapperGraph

__all__ = ["graph_layout"]

#: Components with at least this many nodes use the dense force layout directly
#: (networkx switches to a much slower sparse solver for graphs of 500 nodes and more).
_DENSE_FROM = 500


def _component_layout(subgraph: nx.Graph, start: dict, seed: int, iterations: int) -> dict:
    if subgraph.number_of_nodes() >= _DENSE_FROM:
        dense = getattr(nx.drawing.layout, "_fruchterman_reingold", None)
        if dense is not None:
            nodes = list(subgraph)
            adjacency = nx.to_numpy_array(subgraph, nodelist=nodes, weight=None)
            initial = np.array([start[n] for n in nodes], dtype=np.float64)
            positions = dense(
                adjacency, k=None, pos=initial, fixed=None, iterations=iterations,
                threshold=1e-4, dim=2, seed=np.random.RandomState(seed),
            )
            return dict(zip(nodes, positions))
    return nx.spring_layout(subgraph, pos=start, seed=seed, iterations=iterations)


def graph_layout(graph: MapperGraph, seed: int = 0, spacing: float = 70.0) -> np.ndarray:
    """Positions of the graph's nodes in screen units (y grows downwards).

    Parameters
    ----------
    graph : MapperGraph
        The graph to draw.
    seed : int, default 0
        Seed of the force layout's random parts.
    spacing : float, default 70.0
        Typical distance between neighbouring nodes, in pixels at zoom 1.

    Returns
    -------
    ndarray of shape (n_nodes, 2)
        ``x, y`` of every node; the same graph and seed always give the same array.
    """
    n = graph.n_nodes
    positions = np.zeros((n, 2), dtype=np.float64)
    if n == 0:
        return positions
    lens = graph.lens_mean[:, 0] if graph.lens_mean.size else np.zeros(n)
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-0.5, 0.5, size=n)
    nx_graph = nx.Graph()
    nx_graph.add_nodes_from(range(n))
    nx_graph.add_edges_from(graph.edges.tolist())

    boxes: list[tuple[np.ndarray, np.ndarray]] = []  # (node positions, local xy in a unit box)
    for nodes in graph.components():
        if nodes.size == 1:
            boxes.append((nodes, np.zeros((1, 2))))
            continue
        order = np.argsort(np.argsort(lens[nodes], kind="stable"), kind="stable") / max(nodes.size - 1, 1)
        start = {int(v): (2.0 * order[k] - 1.0, jitter[v]) for k, v in enumerate(nodes)}
        iterations = 50 if nodes.size < 200 else 30
        local = _component_layout(nx_graph.subgraph(nodes.tolist()), start, seed, iterations)
        xy = np.array([local[int(v)] for v in nodes], dtype=np.float64)
        xy -= xy.mean(axis=0)
        # Keep low lens on the left: mirror when the layout came out reversed.
        if nodes.size > 2 and np.corrcoef(xy[:, 0], lens[nodes])[0, 1] < 0:
            xy[:, 0] = -xy[:, 0]
        extent = np.abs(xy).max()
        boxes.append((nodes, xy / extent if extent > 0 else xy))

    # Shelf packing: a component of k nodes gets a square of side ~ sqrt(k) * spacing.
    row_width = spacing * max(8.0, 1.6 * math.sqrt(n))
    cursor_x = cursor_y = row_height = 0.0
    for nodes, xy in boxes:
        side = spacing * (1.0 + 1.2 * math.sqrt(nodes.size)) if nodes.size > 1 else spacing
        if cursor_x > 0 and cursor_x + side > row_width:
            cursor_x, cursor_y, row_height = 0.0, cursor_y + row_height, 0.0
        centre = np.array([cursor_x + side / 2, cursor_y + side / 2])
        positions[nodes] = centre + xy * (side / 2 - spacing * 0.25)
        cursor_x += side
        row_height = max(row_height, side)
    positions -= positions.mean(axis=0)
    return positions

"""Structure report of a Mapper graph: components, branches (flares), loops and hubs, each
with its members and the classes it holds, as sentences the tool can print."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from topoact import TopoactError
from topoact.mapper.graph import MapperGraph, majority_labels


@dataclass
class Finding:
    """One structural feature of a graph.

    Attributes
    ----------
    kind : {'component', 'loop', 'branch', 'hub'}
    nodes : list of str
        Node ids along / in the feature (in order along a loop or branch).
    members : ndarray of int
        Data rows in those nodes, sorted.
    classes : list
        Majority class of each node, in node order (consecutive repeats removed for loops
        and branches).
    sentence : str
        The finding in words.
    """

    kind: str
    nodes: list[str]
    members: np.ndarray
    classes: list
    sentence: str = ""
    counts: dict = field(default_factory=dict)


def _path_classes(majority: list, nodes: list[int]) -> list:
    seq = [majority[i] for i in nodes]
    return [c for j, c in enumerate(seq) if j == 0 or c != seq[j - 1]]


def _members(graph: MapperGraph, nodes) -> np.ndarray:
    nodes = list(nodes)
    return np.unique(np.concatenate([graph.node_members[i] for i in nodes])) if nodes else np.empty(0, np.int64)


def _class_counts(labels: np.ndarray, rows: np.ndarray) -> dict:
    values, counts = np.unique(labels[rows], return_counts=True)
    return {v.item(): int(c) for v, c in sorted(zip(values, counts), key=lambda p: (-p[1], p[0]))}


def structure_report(graph: MapperGraph, labels, *, layer: str = "this layer", min_branch: int = 2,
                     hub_degree: int = 4) -> list[Finding]:
    """Components, loops (a cycle basis), branches (flares) and hubs of a Mapper graph.

    Parameters
    ----------
    graph : MapperGraph
    labels : array-like of shape (n_points,)
    layer : str
        Named in the sentences.
    min_branch : int, default=2
        A flare is a chain of at least this many nodes hanging off a branch point
        (degree >= 3) and ending in a leaf.
    hub_degree : int, default=4
        Nodes with at least this degree are hubs.

    Returns
    -------
    list of Finding
        Components (largest first), then loops, branches and hubs.
    """
    import networkx as nx

    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != graph.n_points:
        raise TopoactError(f"labels must be 1-D with one entry per graph point ({graph.n_points})")
    if graph.n_nodes == 0:
        raise TopoactError("the graph has no nodes")
    ids = graph.node_ids
    majority = majority_labels(graph.node_members, labels)
    g = nx.Graph()
    g.add_nodes_from(range(graph.n_nodes))
    g.add_edges_from(map(tuple, graph.edges.tolist()))
    findings: list[Finding] = []

    def add(kind: str, nodes: list[int], sentence_of) -> None:
        rows = _members(graph, nodes)
        classes = _path_classes(majority, nodes) if kind in ("loop", "branch") else sorted(set(majority[i] for i in nodes))
        counts = _class_counts(labels, rows)
        findings.append(Finding(kind, [ids[i] for i in nodes], rows, classes, sentence_of(classes, rows, counts),
                                counts))

    for c, nodes in enumerate(graph.components()):
        add("component", nodes.tolist(), lambda cl, rows, counts, c=c, n=len(nodes): (
            f"{layer}: component {c + 1} has {n} node{'s' if n != 1 else ''} and {rows.size} samples holding classes "
            + ", ".join(f"{k} ({v})" for k, v in list(counts.items())[:5])))
    for cycle in nx.cycle_basis(g):
        add("loop", list(cycle), lambda cl, rows, counts: (
            f"{layer} has a loop through classes {'-'.join(map(str, cl))} "
            f"({rows.size} samples)"))
    degree = dict(g.degree())
    for leaf in [n for n, d in degree.items() if d == 1]:
        path, prev, cur = [leaf], None, leaf
        while degree[cur] <= 2:
            nxt = [n for n in g.neighbors(cur) if n != prev]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            path.append(cur)
        if degree[cur] >= 3 and len(path) - 1 >= min_branch:
            chain = path[::-1]  # from the branch point to the tip
            add("branch", chain, lambda cl, rows, counts, b=ids[cur]: (
                f"{layer} has a flare from {b} through classes {'-'.join(map(str, cl))} ({rows.size} samples)"))
    for node in sorted((n for n, d in degree.items() if d >= hub_degree), key=lambda n: (-degree[n], n)):
        add("hub", [node], lambda cl, rows, counts, n=node: (
            f"{layer}: hub {ids[n]} joins {degree[n]} nodes; its majority class is {majority[n]} ({rows.size} samples)"))
    return findings

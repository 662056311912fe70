"""Structure report of a Mapper graph: components, branches (flares), loops and hubs, each
with its members and the classes it holds, as sentences the tool can print.

With bootstrap resamples (:func:`topoact.mapper.bootstrap.bootstrap_graphs`) each component,
loop and flare also gets a confidence, as Carrière, Michel and Oudot's confidence for
Mapper features (JMLR 19(1), 2018): the share of resamples whose graph has a feature of
the same kind over the same points (:func:`feature_confidence`).

How loops are counted: the loops are a cycle basis of the graph (its independent
cycles; their number is the graph's cycle rank, ``MapperGraph.n_loops``); chains of
degree-2 nodes do not change it.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    confidence: float | None = None
    n_resamples: int = 0


@dataclass
class GraphFeature:
    """A component, loop or flare of a graph: its kind, nodes (positions) and member rows."""

    kind: str
    nodes: list[int]
    members: np.ndarray


#: Feature kinds that get a bootstrap confidence.
CONFIDENCE_KINDS = ("component", "loop", "branch")


def _nx_graph(graph: MapperGraph):
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(graph.n_nodes))
    g.add_edges_from(map(tuple, graph.edges.tolist()))
    return g


def _flares(g, min_branch: int) -> list[tuple[int, list[int]]]:
    """(branch point, chain from the branch point to the tip) of every flare."""
    degree = dict(g.degree())
    flares = []
    for leaf in [n for n, d in degree.items() if d == 1]:
        path, prev, cur = [leaf], None, leaf
        while degree[cur] <= 2:
            nxt = [n for n in g.neighbors(cur) if n != prev]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            path.append(cur)
        if degree[cur] >= 3 and len(path) - 1 >= min_branch:
            flares.append((cur, path[::-1]))
    return flares


def graph_features(graph: MapperGraph, *, min_branch: int = 2) -> list[GraphFeature]:
    """Components (largest first), loops (a cycle basis) and flares of ``graph``.

    Parameters
    ----------
    graph : MapperGraph
    min_branch : int, default=2
        A flare is a chain of at least this many nodes from a branch point
        (degree >= 3) to a leaf.

    Returns
    -------
    list of GraphFeature
    """
    import networkx as nx

    g = _nx_graph(graph)
    features = [GraphFeature("component", nodes.tolist(), _members(graph, nodes)) for nodes in graph.components()]
    features += [GraphFeature("loop", list(cycle), _members(graph, cycle)) for cycle in nx.cycle_basis(g)]
    features += [GraphFeature("branch", chain, _members(graph, chain)) for _, chain in _flares(g, min_branch)]
    return features


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.union1d(a, b).size
    return np.intersect1d(a, b, assume_unique=True).size / union if union else 0.0


def feature_confidence(
    graph: MapperGraph,
    resamples: Sequence[MapperGraph],
    *,
    min_branch: int = 2,
    min_overlap: float = 0.5,
    features: list[GraphFeature] | None = None,
) -> np.ndarray:
    """Share of ``resamples`` in which each feature of ``graph`` persists.

    A feature persists in a resample's graph when that graph has a feature of the same
    kind whose members overlap it: Jaccard index at least ``min_overlap`` between the
    resample feature's members and the original feature's members that the resample's
    graph holds. Within a resample and a kind, features are matched one to one, best
    overlap first (two original loops cannot both be matched by one resampled loop).

    Parameters
    ----------
    graph : MapperGraph
    resamples : sequence of MapperGraph
        Graphs of bootstrap resamples (:func:`topoact.mapper.bootstrap.bootstrap_graphs`).
    min_branch : int
    min_overlap : float in (0, 1]
    features : list of GraphFeature, optional
        ``graph_features(graph)`` when already computed.

    Returns
    -------
    ndarray of float64, shape (n_features,)
        One share per feature of ``features`` (or ``graph_features(graph)``), in [0, 1].
    """
    if len(resamples) == 0:
        raise TopoactError("feature confidence needs at least one resampled graph")
    features = graph_features(graph, min_branch=min_branch) if features is None else features
    seen = np.zeros(len(features))
    for resample in resamples:
        present = resample.covered_points
        theirs = graph_features(resample, min_branch=min_branch)
        for kind in CONFIDENCE_KINDS:
            ours = [i for i, f in enumerate(features) if f.kind == kind]
            other = [f for f in theirs if f.kind == kind]
            if not ours or not other:
                continue
            restricted = [np.intersect1d(features[i].members, present, assume_unique=True) for i in ours]
            pairs = sorted(
                ((_jaccard(restricted[a], other[b].members), a, b) for a in range(len(ours)) for b in range(len(other))),
                reverse=True,
            )
            used_a, used_b = set(), set()
            for score, a, b in pairs:
                if score < min_overlap:
                    break
                if a in used_a or b in used_b:
                    continue
                used_a.add(a)
                used_b.add(b)
                seen[ours[a]] += 1
    return seen / len(resamples)


def _path_classes(majority: list, nodes: list[int]) -> list:
    seq = [majority[i] for i in nodes]
    return [c for j, c in enumerate(seq) if j == 0 or c != seq[j - 1]]


def _node_list(ids: list[str], limit: int = 6) -> str:
    return ", ".join(ids) if len(ids) <= limit else ", ".join(ids[: limit - 1]) + f", … ({len(ids)} nodes)"


def _members(graph: MapperGraph, nodes) -> np.ndarray:
    nodes = list(nodes)
    return np.unique(np.concatenate([graph.node_members[i] for i in nodes])) if nodes else np.empty(0, np.int64)


def _class_counts(labels: np.ndarray, rows: np.ndarray) -> dict:
    values, counts = np.unique(labels[rows], return_counts=True)
    return {v.item(): int(c) for v, c in sorted(zip(values, counts), key=lambda p: (-p[1], p[0]))}


def structure_report(graph: MapperGraph, labels, *, layer: str = "this layer", min_branch: int = 2,
                     hub_degree: int = 4, resamples: Sequence[MapperGraph] | None = None) -> list[Finding]:
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
    resamples : sequence of MapperGraph, optional
        Bootstrap graphs (:func:`topoact.mapper.bootstrap.bootstrap_graphs`): each
        component, loop and flare then gets ``confidence`` (see
        :func:`feature_confidence`) and its sentence ends with "seen in 93 % of 50
        resamples".

    Returns
    -------
    list of Finding
        Components (largest first), then loops, branches and hubs.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != graph.n_points:
        raise TopoactError(f"labels must be 1-D with one entry per graph point ({graph.n_points})")
    if graph.n_nodes == 0:
        raise TopoactError("the graph has no nodes")
    ids = graph.node_ids
    majority = majority_labels(graph.node_members, labels)
    g = _nx_graph(graph)
    features = graph_features(graph, min_branch=min_branch)
    confidence = None if resamples is None else feature_confidence(graph, resamples, features=features)
    findings: list[Finding] = []

    def add(kind: str, nodes: list[int], sentence_of, share: float | None = None) -> None:
        rows = _members(graph, nodes)
        classes = _path_classes(majority, nodes) if kind in ("loop", "branch") else sorted(set(majority[i] for i in nodes))
        counts = _class_counts(labels, rows)
        sentence = sentence_of(classes, rows, counts)
        if share is not None:
            sentence += f", seen in {100 * share:.0f} % of {len(resamples)} resamples"
        findings.append(Finding(kind, [ids[i] for i in nodes], rows, classes, sentence, counts,
                                None if share is None else float(share), 0 if share is None else len(resamples)))

    branch_points = {tuple(chain): point for point, chain in _flares(g, min_branch)}
    for k, feature in enumerate(features):
        share = None if confidence is None else confidence[k]
        nodes = feature.nodes
        if feature.kind == "component":
            c = sum(f.kind == "component" for f in features[:k])
            add("component", nodes, lambda cl, rows, counts, c=c, n=len(nodes): (
                f"{layer}: component {c + 1} has {n} node{'s' if n != 1 else ''} and {rows.size} samples holding classes "
                + ", ".join(f"{k} ({v})" for k, v in list(counts.items())[:5])), share)
        elif feature.kind == "loop":
            add("loop", nodes, lambda cl, rows, counts, nodes=nodes: (
                f"{layer} has a loop through classes {'-'.join(map(str, cl))} "
                f"({rows.size} samples; nodes {_node_list([ids[i] for i in nodes])})"), share)
        else:
            add("branch", nodes, lambda cl, rows, counts, b=ids[branch_points[tuple(nodes)]]: (
                f"{layer} has a flare from {b} through classes {'-'.join(map(str, cl))} ({rows.size} samples)"), share)
    degree = dict(g.degree())
    for node in sorted((n for n, d in degree.items() if d >= hub_degree), key=lambda n: (-degree[n], n)):
        add("hub", [node], lambda cl, rows, counts, n=node: (
            f"{layer}: hub {ids[n]} joins {degree[n]} nodes; its majority class is {majority[n]} ({rows.size} samples)"))
    return findings

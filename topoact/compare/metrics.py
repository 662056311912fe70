"""One row of numbers per Mapper graph, comparable across layers, models and parameters.

:func:`graph_metrics` is the function every comparison (layers, architectures, trained vs
untrained, attack strengths) tabulates; :data:`METRIC_COLUMNS` names its keys in table order.
"""

from __future__ import annotations

import math

import numpy as np

from topoact import TopoactError
from topoact.mapper.graph import MapperGraph

__all__ = ["METRIC_COLUMNS", "METRIC_DESCRIPTIONS", "ANOMALY_THRESHOLD", "graph_metrics", "label_separation"]

#: What each metric means (the keys of :func:`graph_metrics`, in table order).
METRIC_DESCRIPTIONS: dict[str, str] = {
    "nodes": "number of nodes",
    "edges": "number of edges",
    "components": "connected components",
    "loops": "cycle rank: edges - nodes + components",
    "branch_points": "nodes of degree 3 or more",
    "mean_purity": "mean over nodes of the majority label's share",
    "weighted_purity": "the same, weighted by node size (share of memberships in their node's majority)",
    "point_purity": "mean over clustered points of 1 / distinct labels in their nodes (topoact.anomaly)",
    "label_ami": "adjusted mutual information between node and label over (point, node) memberships",
    "noise_fraction": "share of points in no node (DBSCAN noise)",
    "mean_lens": "mean lens value over memberships (first lens dimension)",
    "anomalies": "points whose combined anomaly score (topoact.anomaly) is above ANOMALY_THRESHOLD",
}
METRIC_COLUMNS: tuple[str, ...] = tuple(METRIC_DESCRIPTIONS)
#: A point counts as an anomaly when its combined score is above this: more than half of the
#: weighted evidence says so (a point whose only evidence is being DBSCAN noise scores 0.5).
ANOMALY_THRESHOLD = 0.5


def _labelled(graph: MapperGraph, labels) -> np.ndarray | None:
    """The labels as an array, or None when there are none to use (absent or all -1)."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != graph.n_points:
        raise TopoactError(f"labels must be 1-D with one entry per graph point ({graph.n_points}); got shape {labels.shape}")
    if labels.dtype.kind in "iu" and not np.any(labels >= 0):
        return None
    return labels


def label_separation(graph: MapperGraph, labels) -> float:
    """How well the nodes separate the classes: AMI between node and label.

    Every (point, node) membership of a labelled point is one observation with two
    labels, the node and the class. Their adjusted mutual information is 1 when the nodes
    are the classes, about 0 when nodes are independent of classes, and in between for
    pure nodes that cut a class into several (as a cover does), rising as nodes get purer
    and classes less fragmented. Noise points and rows labelled ``-1`` are left out.

    Parameters
    ----------
    graph : MapperGraph
    labels : array-like of shape (n_points,)

    Returns
    -------
    float
        NaN when the graph has no labelled memberships.
    """
    from sklearn.metrics import adjusted_mutual_info_score

    labels = _labelled(graph, labels)
    if labels is None or graph.n_nodes == 0:
        return math.nan
    rows = np.concatenate(graph.node_members)
    nodes = np.repeat(np.arange(graph.n_nodes), graph.node_sizes)
    keep = labels[rows] >= 0 if labels.dtype.kind in "iu" else np.ones(rows.size, bool)
    if not keep.any():
        return math.nan
    return float(adjusted_mutual_info_score(labels[rows][keep], nodes[keep]))


def graph_metrics(
    graph: MapperGraph,
    labels=None,
    *,
    vectors=None,
    prediction=None,
    confidence=None,
    anomaly_threshold: float = ANOMALY_THRESHOLD,
) -> dict[str, float]:
    """Shape and label numbers of one Mapper graph (the keys of :data:`METRIC_COLUMNS`).

    Parameters
    ----------
    graph : MapperGraph
    labels : array-like of shape (n_points,), optional
        Class of each point (``-1``: unlabelled). Without labels the purity, separation
        and anomaly numbers are NaN.
    vectors : array-like of shape (n_points, dim), optional
        The activations the graph was built on: the anomaly count then also uses k-NN
        label disagreement and LOF (:func:`topoact.anomaly.vector_scores`).
    prediction, confidence : array-like of shape (n_points,), optional
        The model's prediction and confidence, for the anomaly count.
    anomaly_threshold : float, default=0.5
        A point whose combined score is above it counts as an anomaly.

    Returns
    -------
    dict of str to float
        See :data:`METRIC_DESCRIPTIONS`; counts are ints.
    """
    if not isinstance(graph, MapperGraph):
        raise TopoactError(f"graph must be a MapperGraph, got {type(graph).__name__}")
    summary = graph.summary()
    sizes = graph.node_sizes
    row: dict[str, float] = {key: int(summary[key]) for key in ("nodes", "edges", "components", "loops", "branch_points")}
    row.update({key: math.nan for key in METRIC_COLUMNS if key not in row})
    row["noise_fraction"] = graph.n_noise / graph.n_points if graph.n_points else math.nan
    if graph.n_nodes:
        row["mean_lens"] = float(np.average(graph.lens_mean[:, 0], weights=sizes))
    labels = _labelled(graph, labels)
    if labels is None or graph.n_nodes == 0:
        return row
    purity = np.asarray(graph.label_summary(labels)["purity"], dtype=np.float64)
    row["mean_purity"] = float(purity.mean())
    row["weighted_purity"] = float(np.average(purity, weights=sizes))
    row["label_ami"] = label_separation(graph, labels)
    row.update(_anomaly_numbers(graph, labels, vectors, prediction, confidence, anomaly_threshold))
    return row


def _anomaly_numbers(graph, labels, vectors, prediction, confidence, threshold: float) -> dict[str, float]:
    """Point purity and the anomaly count from topoact.anomaly's scores."""
    from topoact.anomaly import combine_scores, graph_scores, vector_scores

    scores = graph_scores(graph, labels, prediction, confidence, vectors=vectors)
    if vectors is not None:
        scores = scores.join(vector_scores(vectors, labels))
    clustered = scores["noise"].to_numpy() < 1
    combined = combine_scores(scores)
    return {
        "point_purity": float(1.0 - scores["impurity"].to_numpy()[clustered].mean()),
        "anomalies": int(np.count_nonzero(combined > threshold)),
    }

"""From a Mapper graph to what a graph view draws: node colours, sizes, tooltips, edges.

The view is plain data (lists of dicts in vis-network's vocabulary), so the same view
feeds the dashboard's interactive component and the standalone pyvis HTML export.
Every data-derived string placed in a tooltip is HTML-escaped here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from topoact.mapper.graph import MapperGraph
from topoact.viz.colours import (
    MISSING_COLOUR,
    SEQUENTIAL_SCALES,
    Legend,
    categorical_colours,
    sequential_colours,
)

__all__ = [
    "COLOUR_BY",
    "FADED_COLOUR",
    "GraphView",
    "NodeStats",
    "build_graph_view",
    "class_name",
    "node_stats",
    "node_tooltip_html",
]

#: Node colourings a view offers: key -> readable name.
COLOUR_BY: dict[str, str] = {
    "majority_label": "majority label",
    "purity": "purity",
    "lens": "mean lens",
    "confidence": "model confidence",
    "misclassified": "misclassified share",
    "anomaly": "anomaly score",
    "attacked": "attacked share",
}

#: Colour of nodes faded out by a class search.
FADED_COLOUR = "rgba(200, 200, 200, 0.25)"
#: Border of nodes holding highlighted points.
HIGHLIGHT_BORDER = "#d62728"
_EDGE_COLOUR = "rgba(90, 90, 90, {alpha:.2f})"


@dataclass
class NodeStats:
    """Per-node facts derived from the points of each node.

    Parameters
    ----------
    sizes : ndarray of int
        Member count of each node.
    label_counts : list of list of [label, count]
        Labels of the members, most common first.
    majority_label : list
        Most common label of each node.
    purity : ndarray of float
        Share of the majority label.
    lens_mean : ndarray of float
        Mean of the first lens dimension.
    confidence : ndarray of float
        Mean model confidence of the members (NaN when the model has no head).
    misclassified : ndarray of float
        Share of members whose prediction differs from their label (NaN when there
        are no predictions or labels).
    anomaly : ndarray of float or None
        Mean anomaly score of the members, None when no scores were given.
    attacked : ndarray of float or None
        Share of attacked members (a clean + attacked graph), None otherwise.
    notes : list of str or None
        Extra tooltip lines per node (plain text; escaped when drawn).
    """

    sizes: np.ndarray
    label_counts: list
    majority_label: list
    purity: np.ndarray
    lens_mean: np.ndarray
    confidence: np.ndarray
    misclassified: np.ndarray
    anomaly: np.ndarray | None = None
    attacked: np.ndarray | None = None
    notes: list[str] | None = None

    def values(self, colour_by: str) -> np.ndarray | None:
        """The numbers behind a continuous colouring (None for ``majority_label``)."""
        return {
            "purity": self.purity,
            "lens": self.lens_mean,
            "confidence": self.confidence,
            "misclassified": self.misclassified,
            "anomaly": self.anomaly,
            "attacked": self.attacked,
        }.get(colour_by)

    def colourings(self) -> list[str]:
        """The keys of :data:`COLOUR_BY` these stats can colour by (those with some finite value)."""
        return [key for key in COLOUR_BY if key == "majority_label"
                or (self.values(key) is not None and bool(np.isfinite(self.values(key)).any()))]


def _member_means(graph: MapperGraph, per_point: np.ndarray) -> np.ndarray:
    out = np.full(graph.n_nodes, np.nan)
    for i, members in enumerate(graph.node_members):
        values = per_point[members]
        values = values[np.isfinite(values)]
        if values.size:
            out[i] = float(values.mean())
    return out


def node_stats(
    graph: MapperGraph,
    labels: np.ndarray,
    prediction: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    anomaly_scores: np.ndarray | None = None,
    attacked: np.ndarray | None = None,
) -> NodeStats:
    """Compute :class:`NodeStats` for ``graph`` from per-point columns.

    Parameters
    ----------
    graph : MapperGraph
    labels : ndarray of int, shape (n_points,)
        Label of every point the graph was built on (``-1`` unlabelled).
    prediction : ndarray of int, optional
        The model's predicted class per point (``-1`` when none).
    confidence : ndarray of float, optional
        Confidence of the prediction per point (NaN when none).
    anomaly_scores : ndarray of float, optional
        An anomaly score per point.
    attacked : ndarray of bool, optional
        Which points are attacked inputs (a clean + attacked graph).

    Returns
    -------
    NodeStats
    """
    labels = np.asarray(labels)
    summary = graph.label_summary(labels)
    n = graph.n_points
    confidence = np.full(n, np.nan) if confidence is None else np.asarray(confidence, dtype=np.float64)
    if prediction is None:
        wrong = np.full(n, np.nan)
    else:
        prediction = np.asarray(prediction)
        known = (prediction >= 0) & (labels >= 0)
        wrong = np.where(known, (prediction != labels).astype(np.float64), np.nan)
    return NodeStats(
        sizes=graph.node_sizes.copy(),
        label_counts=summary["label_counts"],
        majority_label=summary["majority_label"],
        purity=np.asarray(summary["purity"], dtype=np.float64),
        lens_mean=graph.lens_mean[:, 0].astype(np.float64) if graph.n_nodes else np.zeros(0),
        confidence=_member_means(graph, confidence),
        misclassified=_member_means(graph, wrong),
        anomaly=None if anomaly_scores is None else _member_means(graph, np.asarray(anomaly_scores, np.float64)),
        attacked=None if attacked is None else _member_means(graph, np.asarray(attacked, np.float64)),
    )


def class_name(label, class_names: Sequence[str] | None) -> str:
    """Readable name of a label value (``-1`` is "unlabelled")."""
    if label is None or (isinstance(label, (int, np.integer)) and label < 0):
        return "unlabelled"
    if class_names is not None and isinstance(label, (int, np.integer)) and label < len(class_names):
        return str(class_names[int(label)])
    return str(label)


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


#: Side in pixels of a node's feature visualization in its tooltip.
TOOLTIP_IMAGE_SIDE = 72


def node_tooltip_html(
    node_id: str, i: int, stats: NodeStats, class_names: Sequence[str] | None, image_uri: str | None = None
) -> str:
    """Tooltip of node ``i``: size, top-3 classes with % and counts, purity, mean lens.

    Every data-derived string is HTML-escaped. ``image_uri`` (a ``data:image/png`` URI of
    the node's feature visualization) is shown above the text.
    """
    size = int(stats.sizes[i])
    rows = []
    for label, count in stats.label_counts[i][:3]:
        name = html.escape(class_name(label, class_names))
        rows.append(f"{name}: {100.0 * count / size:.0f}% ({count})")
    parts = [
        f"<b>{html.escape(node_id)}</b>",
        f"size: {size}",
        "top classes: " + ", ".join(rows),
        f"purity: {stats.purity[i]:.2f}",
        f"mean lens: {_fmt(stats.lens_mean[i])}",
    ]
    if math.isfinite(stats.confidence[i]):
        parts.append(f"mean confidence: {stats.confidence[i]:.2f}")
    if math.isfinite(stats.misclassified[i]):
        parts.append(f"misclassified: {100.0 * stats.misclassified[i]:.0f}%")
    if stats.anomaly is not None and math.isfinite(stats.anomaly[i]):
        parts.append(f"anomaly score: {_fmt(stats.anomaly[i])}")
    if stats.attacked is not None and math.isfinite(stats.attacked[i]):
        parts.append(f"attacked: {100.0 * stats.attacked[i]:.0f}%")
    if stats.notes is not None and stats.notes[i]:
        parts.append(html.escape(stats.notes[i]))
    text = "<br>".join(parts)
    if image_uri is None:
        return text
    image = (f'<img src="{html.escape(image_uri, quote=True)}" width="{TOOLTIP_IMAGE_SIDE}" '
             f'height="{TOOLTIP_IMAGE_SIDE}" alt="feature visualization" '
             'style="image-rendering:pixelated;display:block;margin-bottom:4px;border-radius:4px">')
    return image + text


@dataclass
class GraphView:
    """Everything a graph view draws, as JSON-ready data.

    Attributes
    ----------
    nodes : list of dict
        vis-network nodes: ``id``, ``x``, ``y``, ``size``, ``color``, ``title`` (HTML),
        ``faded``, ``shape`` (``dot``, or ``circularImage`` with ``image`` for a node drawn
        as its feature visualization), ``borderWidth``.
    edges : list of dict
        vis-network edges: ``id``, ``from``, ``to``, ``width``, ``color``, ``title``,
        ``hidden`` (below the Jaccard threshold).
    legend : Legend
    n_visible_edges : int
        Edges at or above the Jaccard threshold.
    n_matching_nodes : int
        Nodes holding the searched class (all nodes when no class is searched).
    structure_key : str
        Identifies the graph and layout; a recoloured view keeps the same key.
    """

    nodes: list[dict] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)
    legend: Legend = field(default_factory=lambda: Legend("", "categorical"))
    n_visible_edges: int = 0
    n_matching_nodes: int = 0
    structure_key: str = ""


def _node_radius(sizes: np.ndarray) -> np.ndarray:
    """Radius growing with log(member count): 5 pixels for one member, 20 for the largest node."""
    logs = np.log(np.maximum(sizes, 1))
    top = logs.max() if logs.size and logs.max() > 0 else 1.0
    return 5.0 + 15.0 * (logs / top)


def build_graph_view(
    graph: MapperGraph,
    stats: NodeStats,
    positions: np.ndarray,
    *,
    colour_by: str = "majority_label",
    class_names: Sequence[str] | None = None,
    jaccard_threshold: float = 0.0,
    search_label: int | None = None,
    structure_key: str = "",
    scale: str = "viridis",
    node_images: Mapping[str, str] | None = None,
    image_nodes: bool = False,
    value_range: tuple[float, float] | None = None,
    highlight: np.ndarray | None = None,
) -> GraphView:
    """Build the drawable view of ``graph``.

    Parameters
    ----------
    graph : MapperGraph
    stats : NodeStats
        From :func:`node_stats` for the same graph.
    positions : ndarray of shape (n_nodes, 2)
        From :func:`topoact.viz.layout.graph_layout`; reused across colourings.
    colour_by : str, default "majority_label"
        A key of :data:`COLOUR_BY`.
    class_names : sequence of str, optional
        Names of the label values.
    jaccard_threshold : float, default 0.0
        Edges whose Jaccard index is below it are hidden.
    search_label : int, optional
        Nodes without a member of this label are faded.
    structure_key : str
        Stored on the view; the renderer keeps its camera while the key is unchanged.
    scale : str, default "viridis"
        Sequential scale for continuous colourings.
    node_images : mapping of str to str, optional
        Node id -> ``data:image/png`` URI of the node's feature visualization; shown in
        its tooltip.
    image_nodes : bool, default False
        Draw the nodes that have an image as that image (a circle bordered in the node's
        colour) instead of a dot.
    value_range : (float, float), optional
        Ends of a continuous colouring's scale (default: the graph's own range, or
        [0, 1] for shares); give several graphs one range to compare their colours.
    highlight : ndarray of float, shape (n_nodes,), optional
        Share of some selected points in each node (e.g. the members of a node picked in
        another graph): nodes holding none are faded, the others get a border as thick
        as their share and say it in their tooltip.

    Returns
    -------
    GraphView
    """
    if colour_by not in COLOUR_BY:
        raise ValueError(f"unknown colouring {colour_by!r}; valid: {', '.join(COLOUR_BY)}")
    if colour_by == "anomaly" and stats.anomaly is None:
        raise ValueError("no anomaly scores were given for this graph")
    if colour_by == "attacked" and stats.attacked is None:
        raise ValueError("no attacked/clean kinds were given for this graph")
    if scale not in SEQUENTIAL_SCALES:
        raise ValueError(f"unknown colour scale {scale!r}")
    n = graph.n_nodes
    ids = graph.node_ids

    if colour_by == "majority_label":
        order = sorted(set(stats.majority_label), key=lambda v: (str(type(v)), v))
        if class_names is not None:
            order = [k for k in range(len(class_names))] + [v for v in order if not (isinstance(v, int) and 0 <= v < len(class_names))]
        palette = categorical_colours(stats.majority_label, order=order)
        colours = [palette.get(v, MISSING_COLOUR) for v in stats.majority_label]
        present = [v for v in order if v in set(stats.majority_label)]
        legend = Legend(
            title=COLOUR_BY[colour_by], kind="categorical",
            entries=[(class_name(v, class_names), palette[v]) for v in present],
        )
    else:
        values = stats.values(colour_by)
        fixed = colour_by in ("purity", "confidence", "misclassified", "attacked")
        vmin, vmax = (0.0, 1.0) if fixed else (
            float(np.nanmin(values)) if np.isfinite(values).any() else 0.0,
            float(np.nanmax(values)) if np.isfinite(values).any() else 1.0,
        )
        if value_range is not None:
            vmin, vmax = float(value_range[0]), float(value_range[1])
        ramp = "magma" if colour_by in ("misclassified", "anomaly", "attacked") else scale
        if colour_by in ("misclassified", "attacked"):
            colours = sequential_colours(1.0 - values, 0.0, 1.0, scale=ramp)  # high share = dark
            stops = list(SEQUENTIAL_SCALES[ramp])[::-1]
        else:
            colours = sequential_colours(values, vmin, vmax, scale=ramp)
            stops = list(SEQUENTIAL_SCALES[ramp])
        legend = Legend(title=COLOUR_BY[colour_by], kind="continuous", vmin=vmin, vmax=vmax, stops=stops)

    if search_label is None:
        matching = np.ones(n, dtype=bool)
    else:
        matching = np.array([any(label == search_label for label, _ in counts) for counts in stats.label_counts], dtype=bool)

    if highlight is not None:
        highlight = np.asarray(highlight, dtype=np.float64)
        if highlight.shape != (n,):
            raise ValueError(f"highlight must have one share per node ({n}); got shape {highlight.shape}")
        matching = matching & (highlight > 0)

    radius = _node_radius(stats.sizes)
    images = node_images or {}
    nodes = []
    for i in range(n):
        colour = colours[i] if matching[i] else FADED_COLOUR
        image = images.get(ids[i])
        # faded nodes stay dots; an image shows through the node's colour as a thick border
        drawn_as_image = image_nodes and image is not None and bool(matching[i])
        node = {
            "id": ids[i],
            "x": round(float(positions[i, 0]), 2),
            "y": round(float(positions[i, 1]), 2),
            "size": round(float(radius[i]) * (1.4 if drawn_as_image else 1.0), 2),
            "color": {"background": colour,
                      "border": colour if drawn_as_image else ("#333333" if matching[i] else FADED_COLOUR),
                      "highlight": {"background": colour, "border": "#000000"}},
            "title": node_tooltip_html(ids[i], i, stats, class_names, image),
            "faded": not bool(matching[i]),
            # shape and border always sent: the component updates only the fields a node has
            "shape": "circularImage" if drawn_as_image else "dot",
            "borderWidth": 3 if drawn_as_image else 1,
        }
        if drawn_as_image:
            node["image"] = image
        if highlight is not None and matching[i]:
            node["color"]["border"] = HIGHLIGHT_BORDER
            node["borderWidth"] = round(1.0 + 7.0 * float(highlight[i]), 2)
            node["title"] += f"<br>holds {100.0 * highlight[i]:.0f}% of the selected members"
        nodes.append(node)

    jaccard = graph.edge_jaccard
    edges = []
    visible = 0
    for k, (a, b) in enumerate(graph.edges):
        hidden = bool(jaccard[k] < jaccard_threshold)
        visible += not hidden
        alpha = 0.25 + 0.6 * float(jaccard[k])
        faded = not (matching[a] and matching[b])
        edges.append({
            "id": f"e{k}",
            "from": ids[a],
            "to": ids[b],
            "width": round(1.0 + 7.0 * float(jaccard[k]), 2),
            "color": {"color": FADED_COLOUR if faded else _EDGE_COLOUR.format(alpha=alpha)},
            "title": f"Jaccard {jaccard[k]:.2f}, {int(graph.edge_shared[k])} shared members",
            "hidden": hidden,
        })
    return GraphView(
        nodes=nodes, edges=edges, legend=legend, n_visible_edges=visible,
        n_matching_nodes=int(matching.sum()), structure_key=structure_key,
    )

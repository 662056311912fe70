"""Figures of a comparison (matplotlib, no pyplot state): trajectory, member flow, stability.

Each function returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it
(PNG, SVG or PDF by the suffix). The dashboard shows the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from topoact import TopoactError
from topoact.compare.flow import MemberFlow, node_majorities
from topoact.compare.stability import FEATURE_KINDS, StabilityResult
from topoact.mapper.graph import MapperGraph
from topoact.viz.colours import CATEGORICAL_PALETTE, MISSING_COLOUR
from topoact.viz.graph_view import class_name

__all__ = ["TRAJECTORY_METRICS", "trajectory_figure", "flow_figure", "stability_figure", "save_figure"]

#: The metrics a trajectory shows by default.
TRAJECTORY_METRICS: tuple[str, ...] = ("label_ami", "weighted_purity", "loops", "components", "noise_fraction",
                                       "flow_change")
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
_KIND_COLOURS = {"component": "#4e79a7", "loop": "#e15759", "branch": "#59a14f"}


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def save_figure(figure, path: str | Path) -> Path:
    """Write ``figure`` to ``path`` (.png, .svg or .pdf)."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise TopoactError(f"a figure file must end in {', '.join(FIGURE_SUFFIXES)}; got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def trajectory_figure(table: pd.DataFrame, metrics: Sequence[str] = TRAJECTORY_METRICS, *, title: str = ""):
    """Metrics against relative depth, one line per model (its untrained control dashed).

    Parameters
    ----------
    table : DataFrame
        :attr:`Comparison.table <topoact.compare.Comparison>` (columns ``model``, ``weights``,
        ``layer``, ``depth`` and the metrics).
    metrics : sequence of str
        Columns to draw, one panel each (those missing from ``table`` are skipped).
    """
    metrics = [m for m in metrics if m in table.columns]
    if not metrics:
        raise TopoactError("none of the metrics to draw is in the table")
    columns = len(metrics) if len(metrics) <= 4 else 3
    rows = -(-len(metrics) // columns)
    figure = _figure(3.6 * columns, 2.9 * rows + 0.5)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    models = list(dict.fromkeys(table["model"]))
    colour = {m: CATEGORICAL_PALETTE[i % len(CATEGORICAL_PALETTE)] for i, m in enumerate(models)}
    for ax, metric in zip(axes, metrics):
        for (model, weights), part in table.groupby(["model", "weights"], sort=False):
            part = part.sort_values("depth")
            label = model if weights == "pretrained" else f"{model} ({weights})"
            ax.plot(part["depth"], part[metric], marker="o" if weights == "pretrained" else "s",
                    linestyle="-" if weights == "pretrained" else "--", color=colour[model], label=label,
                    markersize=4, linewidth=1.6, alpha=1.0 if weights == "pretrained" else 0.7)
        ax.set_title(metric.replace("_", " "), fontsize=10)
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("relative depth (0 = input, 1 = last layer)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize=8, frameon=False)
    if title:
        figure.suptitle(title, fontsize=11)
    return figure


def _class_colours(majority: list, class_names: Sequence[str] | None) -> list[str]:
    return [CATEGORICAL_PALETTE[int(v) % len(CATEGORICAL_PALETTE)] if isinstance(v, (int, np.integer)) and v >= 0
            else MISSING_COLOUR for v in majority]


def _order_by_component_and_lens(graph: MapperGraph) -> np.ndarray:
    comps = graph.component_of_node
    sizes = np.bincount(comps) if comps.size else np.zeros(0, int)
    return np.lexsort((graph.lens_mean[:, 0] if graph.n_nodes else np.zeros(0), -sizes[comps] if comps.size else comps))


def _short_id(name: str) -> str:
    return name.replace("component ", "C")


def flow_figure(flow: MemberFlow, a: MapperGraph, b: MapperGraph, labels=None, *,
                class_names: Sequence[str] | None = None, highlight: str | None = None, min_points: float = 0.5):
    """The member flow as a two-column flow diagram (Sankey) and as a matrix.

    Left: nodes of A (ordered by component, then mean lens), right: nodes of B (ordered
    by where their members come from), bar heights = points, bands = points moving from
    a node of A to a node of B, coloured by the A node's majority class. With
    ``highlight`` (an A node id) that node's bands are drawn strong and the rest faint.

    Parameters
    ----------
    flow : MemberFlow
        From :func:`~topoact.compare.member_flow` of ``a`` and ``b``.
    a, b : MapperGraph
    labels : array-like, optional
        Classes of the points (node colours); without them nodes are grey.
    class_names : sequence of str, optional
    highlight : str, optional
    min_points : float, default=0.5
        Bands carrying fewer points are left out.
    """
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MplPath

    if highlight is not None and highlight not in flow.source_ids:
        raise TopoactError(f"no node {highlight!r} in {flow.names[0]}")
    weights = flow.weights
    n_a, n_b = len(flow.source_ids) - 1, len(flow.target_ids) - 1
    majority = ([None] * n_a, [None] * n_b) if labels is None else \
        (node_majorities(a, labels, flow.level), node_majorities(b, labels, flow.level))
    colour_a = _class_colours(majority[0], class_names) + [MISSING_COLOUR]
    colour_b = _class_colours(majority[1], class_names) + [MISSING_COLOUR]

    out_total, in_total = weights.sum(axis=1), weights.sum(axis=0)
    left = (list(_order_by_component_and_lens(a)) if flow.level == "node" else list(range(n_a))) + [n_a]
    left = [i for i in left if out_total[i] > 0]
    position_a = np.zeros(weights.shape[0])
    position_a[left] = np.arange(len(left))
    centre = position_a @ weights / np.maximum(in_total, 1e-12)  # where a B node's members come from
    right = list(np.argsort(centre[:-1], kind="stable")) + [n_b]
    right = [j for j in right if in_total[j] > 0]

    figure = _figure(12.0, 6.2)
    sankey, matrix_ax = figure.subplots(1, 2, width_ratios=[1.5, 1.0])
    total = weights.sum()
    gap = 0.25 * total / max(len(left), len(right), 1) if total else 0.0

    def stack(order, sizes):
        tops, y = {}, 0.0
        for node in order:
            tops[node] = y
            y += sizes[node] + gap
        return tops, y

    top_a, height_a = stack(left, out_total)
    top_b, height_b = stack(right, in_total)
    height = max(height_a, height_b, 1e-12)
    x0, x1, bar = 0.0, 1.0, 0.04
    for order, tops, sizes, colours, x in ((left, top_a, out_total, colour_a, x0 - bar), (right, top_b, in_total, colour_b, x1)):
        for node in order:
            sankey.add_patch(Rectangle((x, tops[node]), bar, sizes[node], facecolor=colours[node],
                                       edgecolor="#333333", linewidth=0.3))
    cursor_a = dict(top_a)
    cursor_b = dict(top_b)
    strong = None if highlight is None else flow.source_ids.index(highlight)
    for i in left:
        for j in right:
            w = weights[i, j]
            if w < min_points:
                continue
            ya, yb = cursor_a[i], cursor_b[j]
            cursor_a[i] += w
            cursor_b[j] += w
            xm = (x0 + x1) / 2
            vertices = [(x0, ya), (xm, ya), (xm, yb), (x1, yb), (x1, yb + w), (xm, yb + w), (xm, ya + w), (x0, ya + w), (x0, ya)]
            codes = [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.LINETO,
                     MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.CLOSEPOLY]
            alpha = 0.45 if strong is None else (0.85 if i == strong else 0.06)
            sankey.add_patch(PathPatch(MplPath(vertices, codes), facecolor=colour_a[i], edgecolor="none", alpha=alpha))
    sankey.set_xlim(x0 - bar - 0.02, x1 + bar + 0.02)
    sankey.set_ylim(height, 0)
    sankey.set_xticks([x0 - bar / 2, x1 + bar / 2], [flow.names[0], flow.names[1]], fontsize=9)
    sankey.set_yticks([])
    for side in ("top", "right", "left", "bottom"):
        sankey.spines[side].set_visible(False)
    caption = f"{flow.level}s: {len(flow.splits)} splits, {len(flow.merges)} merges; noise at the bottom of each column"
    if strong is not None:
        caption = f"where the {int(flow.source_sizes[strong])} members of {highlight} went; " + caption
    sankey.set_title(caption, fontsize=9)

    counts = flow.counts[np.ix_(left, right)].astype(np.float64)
    shares = counts / np.maximum(flow.source_sizes[left], 1)[:, None]
    image = matrix_ax.imshow(shares, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    matrix_ax.set_xlabel(f"nodes of {flow.names[1]} (same order)", fontsize=8)
    matrix_ax.set_ylabel(f"nodes of {flow.names[0]} (same order)", fontsize=8)
    if flow.level == "component" and len(left) * len(right) <= 400:
        matrix_ax.set_xticks(range(len(right)), [_short_id(flow.target_ids[j]) for j in right], fontsize=6,
                             rotation=90)
        matrix_ax.set_yticks(range(len(left)), [_short_id(flow.source_ids[i]) for i in left], fontsize=6)
        for r in range(counts.shape[0]):
            for c in range(counts.shape[1]):
                if counts[r, c]:
                    matrix_ax.text(c, r, int(counts[r, c]), ha="center", va="center", fontsize=6,
                                   color="white" if shares[r, c] < 0.6 else "black")
    else:
        matrix_ax.set_xticks([])
        matrix_ax.set_yticks([])
    matrix_ax.set_title("share of each row's members in each column", fontsize=9)
    figure.colorbar(image, ax=matrix_ax, shrink=0.8)
    if labels is not None:
        present = sorted({v for v in majority[0] + majority[1] if v is not None and v >= 0})[:20]
        from matplotlib.patches import Patch

        handles = [Patch(facecolor=CATEGORICAL_PALETTE[int(v) % len(CATEGORICAL_PALETTE)],
                         label=class_name(v, class_names)) for v in present]
        figure.legend(handles=handles, loc="outside lower center", ncols=min(10, max(len(handles), 1)), fontsize=7,
                      frameon=False, title="majority class", title_fontsize=7)
    return figure


def stability_figure(result: StabilityResult, *, max_bars: int = 60):
    """Barcode of the features over ``n_intervals`` (at the suggested overlap and eps) and
    the stability of every ``n_intervals x overlap`` setting, the suggestion marked."""
    suggestion = result.suggestion
    table = result.table[result.table["eps"].astype(str) == str(suggestion["eps"])]
    bars = result.bars[(result.bars["overlap"] == suggestion["overlap"])
                       & (result.bars["eps"].astype(str) == str(suggestion["eps"]))].head(max_bars)
    grid_n = sorted(table["n_intervals"].unique())
    grid_o = sorted(table["overlap"].unique())
    figure = _figure(12.0, 0.8 + max(3.0, 0.16 * len(bars)))
    barcode, heat = figure.subplots(1, 2, width_ratios=[1.4, 1.0])
    step = {k: i for i, k in enumerate(grid_n)}
    for row, bar in enumerate(bars.itertuples()):
        barcode.plot([step[bar.birth] - 0.4, step[bar.death] + 0.4], [row, row], color=_KIND_COLOURS[bar.kind],
                     linewidth=4, solid_capstyle="butt")
        barcode.text(step[bar.death] + 0.5, row, f"{bar.classes} ({bar.size})", fontsize=6, va="center")
    barcode.set_xticks(range(len(grid_n)), [str(k) for k in grid_n], fontsize=8)
    barcode.set_xlim(-0.6, len(grid_n) + 1.2)
    barcode.set_ylim(len(bars), -1)
    barcode.set_yticks([])
    barcode.axvline(step.get(suggestion["n_intervals"], 0), color="#333333", linestyle=":", linewidth=1)
    barcode.set_xlabel("n_intervals (cover resolution)", fontsize=8)
    barcode.set_title(f"features over the cover resolution (overlap {suggestion['overlap']:g}, eps {suggestion['eps']})",
                      fontsize=9)
    from matplotlib.lines import Line2D

    barcode.legend(handles=[Line2D([], [], color=c, linewidth=4, label=k) for k, c in _KIND_COLOURS.items()],
                   loc="lower right", fontsize=7, frameon=False)
    grid = np.full((len(grid_o), len(grid_n)), np.nan)
    features = np.zeros_like(grid)
    for row in table.itertuples():
        grid[grid_o.index(row.overlap), grid_n.index(row.n_intervals)] = row.stability
        features[grid_o.index(row.overlap), grid_n.index(row.n_intervals)] = sum(
            getattr(row, f"{k}s_tracked" if k != "branch" else "branches_tracked") for k in FEATURE_KINDS)
    image = heat.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            heat.text(c, r, f"{grid[r, c]:.2f}\n{int(features[r, c])} f", ha="center", va="center", fontsize=6,
                      color="white" if grid[r, c] < 0.6 else "black")
    heat.scatter([grid_n.index(suggestion["n_intervals"])], [grid_o.index(suggestion["overlap"])], s=600,
                 facecolors="none", edgecolors="#e15759", linewidths=2)
    heat.set_xticks(range(len(grid_n)), [str(k) for k in grid_n], fontsize=8)
    heat.set_yticks(range(len(grid_o)), [f"{o:g}" for o in grid_o], fontsize=8)
    heat.set_xlabel("n_intervals", fontsize=8)
    heat.set_ylabel("overlap", fontsize=8)
    heat.set_title("stability (share of structure kept one step away; f = features)", fontsize=9)
    figure.colorbar(image, ax=heat, shrink=0.8)
    figure.suptitle(result.describe(), fontsize=10)
    return figure

"""Page parts shared by the pages: progress, inspector (with what a node sees), node table, projection, legend."""

from __future__ import annotations

import html
import io

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from dashboard import services
from dashboard.services import MAX_PROJECTED_POINTS, GraphResult
from dashboard.state import select_node
from topoact import TopoactError
from topoact.activations import ActivationSet
from topoact.featvis.images import png_data_uri, to_png
from topoact.featvis.text import highlighted_html, token_span
from topoact.viz import CATEGORICAL_PALETTE, Legend, class_name, sequential_colours
from topoact.viz.colours import SEQUENTIAL_SCALES


class PageProgress:
    """An ``st.progress`` bar that appears on the first report and goes away when done."""

    def __init__(self) -> None:
        self._slot = st.empty()
        self._bar = None

    def __call__(self, fraction: float, message: str) -> None:
        fraction = float(min(max(fraction, 0.0), 1.0))
        if self._bar is None:
            self._bar = self._slot.progress(fraction, text=message)
        else:
            self._bar.progress(fraction, text=message)

    def stage(self, start: float, end: float):
        """A reporter mapping a stage's [0, 1] onto [start, end] of the bar."""
        return lambda fraction, message: self(start + (end - start) * fraction, message)

    def done(self) -> None:
        self._slot.empty()


def legend_html(legend: Legend) -> str:
    """The legend as small HTML (every name escaped)."""
    title = html.escape(legend.title)
    if legend.kind == "categorical":
        items = "".join(
            f'<span class="ta-legend-item"><span class="ta-swatch" style="background:{colour}"></span>'
            f"{html.escape(name)}</span>"
            for name, colour in legend.entries
        )
    else:
        gradient = ", ".join(legend.stops)
        items = (
            f'<span class="ta-legend-item">{legend.vmin:.3g}</span>'
            f'<span class="ta-gradient" style="background:linear-gradient(90deg, {gradient})"></span>'
            f'<span class="ta-legend-item">{legend.vmax:.3g}</span>'
        )
    return (
        "<style>.ta-legend{font-size:13px;color:#374151;display:flex;flex-wrap:wrap;align-items:center;gap:4px 12px}"
        ".ta-legend-item{display:inline-flex;align-items:center;gap:4px}"
        ".ta-swatch{width:12px;height:12px;border-radius:50%;display:inline-block;border:1px solid #555}"
        ".ta-gradient{width:160px;height:10px;border-radius:3px;display:inline-block}</style>"
        f'<div class="ta-legend" data-testid="graph-legend"><b>{title}:</b>{items}</div>'
    )


def node_table(result: GraphResult, class_names) -> pd.DataFrame:
    """One row per node: id, size, majority class, purity, lens, confidence, misclassified."""
    graph, stats = result.graph, result.stats
    return pd.DataFrame({
        "node": graph.node_ids,
        "size": stats.sizes,
        "majority class": [class_name(v, class_names) for v in stats.majority_label],
        "purity": np.round(stats.purity, 3),
        "mean lens": np.round(stats.lens_mean, 4),
        "confidence": np.round(stats.confidence, 3),
        "misclassified %": np.round(100.0 * stats.misclassified, 1),
        "degree": graph.degree,
        "component": graph.component_of_node,
    })


def members_frame(members: np.ndarray, acts: ActivationSet, dataset, class_names) -> pd.DataFrame:
    """The members of a node as a table (what the CSV download holds)."""
    samples = acts.sample_index[members]
    return pd.DataFrame({
        "row": members,
        "sample_index": samples,
        "sample_id": [dataset.ids[s] for s in samples],
        "label": acts.label[members],
        "class": [class_name(v, class_names) for v in acts.label[members]],
        "prediction": acts.prediction[members],
        "predicted class": [class_name(v, class_names) if v >= 0 else "" for v in acts.prediction[members]],
        "confidence": np.round(acts.confidence[members], 4),
        "position": acts.position[members],
    })


#: Side in pixels of a node's visualization in the inspector, and of its exemplars.
VISUALIZATION_SIDE = 112
EXEMPLAR_SHOWN_SIDE = 44
_FEATVIS_CSS = (
    "<style>.ta-ex{display:flex;align-items:center;gap:3px;margin:2px 0;flex-wrap:wrap}"
    ".ta-ex-label{font-size:12px;color:#374151;width:88px;flex:none;overflow:hidden;text-overflow:ellipsis;"
    "white-space:nowrap}"
    ".ta-ex img{border-radius:3px;border:1px solid #d1d5db;image-rendering:pixelated}"
    ".ta-chip{display:inline-block;font-size:12px;background:#eef2ff;border:1px solid #c7d2fe;border-radius:10px;"
    "padding:0 7px;margin:2px 2px}</style>"
)


def _visualization_caption(vis) -> str:
    return f"cos {vis.cosine:.2f} with the node's mean · {vis.params.steps} steps, {vis.params.size} px"


def render_visualization(model, acts: ActivationSet, members: np.ndarray) -> None:
    """The node's feature visualization, or a button that renders it (with a progress bar)."""
    try:
        vis = services.stored_visualization(model, acts, members)
    except TopoactError as exc:
        st.error(f"No feature visualization: {html.escape(str(exc))}")
        return
    if vis is None:
        st.caption("Feature visualization: not rendered yet.")
        if not st.button("Render", key="featvis_render", width="stretch",
                         help="Optimise an image so that this layer's activation points along the node's mean "
                              "(seconds on the digits models, under a minute at 128 px on the ImageNet models)."):
            return
        bar = st.progress(0.0, text="optimising the image")
        try:
            services.render_visualization(model, acts, members, lambda f, m: bar.progress(min(f, 1.0), text=m))
        except TopoactError as exc:
            bar.empty()
            st.error(html.escape(str(exc)))
            return
        bar.empty()
        st.rerun()  # the graph's tooltip and icon show it too
    # the patch around the sampled position: the part of the image that reaches it
    st.image(to_png(vis.patch(), VISUALIZATION_SIDE), caption=_visualization_caption(vis), width=VISUALIZATION_SIDE)


def exemplars_html(groups, class_names) -> str:
    """Rows of exemplar images per top class (names escaped, images as data URIs)."""
    rows = []
    for group in groups:
        name = html.escape(class_name(group.label, class_names))
        images = "".join(
            f'<img src="{png_data_uri(item.png)}" width="{EXEMPLAR_SHOWN_SIDE}" height="{EXEMPLAR_SHOWN_SIDE}" '
            f'title="sample {item.exemplar.sample_index} · distance {item.exemplar.distance:.3g}" alt="{name}">'
            for item in group.images
        )
        rows.append(f'<div class="ta-ex"><span class="ta-ex-label" title="{name}"><b>{name}</b> · {group.count}</span>'
                    f"{images}</div>")
    return _FEATVIS_CSS + f"<div data-testid='exemplars'>{''.join(rows)}</div>"


def text_node_html(result) -> str:
    """Vocabulary chips and the nearest sentences (every data-derived string escaped)."""
    chips = "".join(f'<span class="ta-chip" title="cos {cos:.2f}">{html.escape(token)}</span>'
                    for token, cos in result.vocabulary)
    nearest = "".join(f"<li>{example.html}</li>" for example in result.nearest)
    return (_FEATVIS_CSS + "<div data-testid='vocabulary' style='margin-bottom:6px'>"
            "<span style='font-size:12px;color:#6b7280'>Vocabulary aligned with the node's mean:</span><br>"
            f"{chips}</div><div style='font-size:12px;color:#6b7280'>Nearest the node's mean "
            "(sampled token marked):</div>"
            f"<ol data-testid='nearest-texts' style='font-size:13px;margin-top:2px'>{nearest}</ol>")


def render_inspector(result: GraphResult, acts: ActivationSet, dataset, model, class_names, max_members: int = 24) -> None:
    """Class distribution, member grid, neighbours and CSV of the selected node."""
    graph, stats = result.graph, result.stats
    node_id = st.session_state.get("selected_node")
    ids = graph.node_ids
    if node_id not in ids:
        st.info("Click a node in the graph (or pick a row in the node table) to inspect it.")
        return
    i = ids.index(node_id)
    members = graph.node_members[i]
    st.markdown(
        f"<div data-testid='inspector-title' style='font-size:1.05rem'><b>{html.escape(node_id)}</b> · "
        f"<span data-testid='inspector-size'>{members.size}</span> members · purity {stats.purity[i]:.2f} · "
        f"mean lens {stats.lens_mean[i]:.3g}</div>",
        unsafe_allow_html=True,
    )

    image_model = dataset.modality == "image"
    if image_model:
        vis_col, chart_col = st.columns([1, 1.6], gap="small")
        with vis_col:
            render_visualization(model, acts, members)
    else:
        chart_col = st.container()

    counts = pd.DataFrame(
        [(class_name(label, class_names), int(count)) for label, count in stats.label_counts[i]],
        columns=["class", "count"],
    )
    domain = [class_name(k, class_names) for k in range(len(class_names))] if class_names else list(counts["class"])
    palette = [CATEGORICAL_PALETTE[k % len(CATEGORICAL_PALETTE)] for k in range(len(domain))]
    chart = (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=alt.X("count:Q", title=None),
            y=alt.Y("class:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
            color=alt.Color("class:N", scale=alt.Scale(domain=domain, range=palette), legend=None),
            tooltip=["class", "count"],
        )
        .properties(height=alt.Step(16))  # one 16 px band per class, whatever the column width
    )
    chart_col.altair_chart(chart, width="stretch")
    try:
        if image_model:
            st.caption("Exemplars: per top class, the members nearest the node's mean"
                       + (" (the patch around the sampled position)" if (acts.position[members] >= 0).any() else ""))
            st.markdown(exemplars_html(services.node_exemplars(model, dataset, acts, members), class_names),
                        unsafe_allow_html=True)
        else:
            st.markdown(text_node_html(services.node_text(model, dataset, acts, members)), unsafe_allow_html=True)
    except TopoactError as exc:
        st.error(html.escape(str(exc)))

    labels, predictions = acts.label[members], acts.prediction[members]
    wrong = (predictions >= 0) & (labels >= 0) & (predictions != labels)
    order = np.concatenate([members[wrong], members[~wrong]])[:max_members]
    n_wrong = int(wrong.sum())
    st.caption(
        f"Members ({min(max_members, members.size)} of {members.size} shown"
        + (f"; {n_wrong} misclassified, shown first, marked ✗" if n_wrong else "") + ")"
    )
    samples = acts.sample_index[order]
    if dataset.modality == "image":
        captions = []
        for row in order:
            label = class_name(acts.label[row], class_names)
            pred = acts.prediction[row]
            if pred >= 0:
                mark = "✗ " if pred != acts.label[row] else ""
                captions.append(f"{mark}{label}→{class_name(pred, class_names)}")
            else:
                captions.append(label)
        images = [dataset.thumbnail(int(s), size=48) for s in samples]
        with st.container(key="member_grid"):
            for start in range(0, len(images), 6):
                cols = st.columns(6, gap="small")
                for col, image, caption in zip(cols, images[start : start + 6], captions[start : start + 6]):
                    col.image(image, caption=caption, width=48)
    else:
        lines = []
        for row, s in zip(order, samples):
            text = dataset.text(int(s))
            span = token_span(getattr(model, "tokenizer", None), text, int(acts.position[row]),
                              int(model.input_config.get("max_length", 128)))
            label = html.escape(class_name(acts.label[row], class_names))
            lines.append(f"<li><span style='color:#6b7280'>[{label}]</span> {highlighted_html(text, span)}</li>")
        st.markdown(f"<ul data-testid='member-texts' style='font-size:13px'>{''.join(lines)}</ul>", unsafe_allow_html=True)

    neighbours = []
    jaccard = graph.edge_jaccard
    for k, (a, b) in enumerate(graph.edges):
        if a == i or b == i:
            other = b if a == i else a
            neighbours.append((float(jaccard[k]), int(other)))
    neighbours.sort(reverse=True)
    st.caption(f"Neighbours ({len(neighbours)}), strongest overlap first")
    if not neighbours:
        st.write("None: this node is an isolated component.")
    for jac, other in neighbours[:8]:
        st.button(
            f"{ids[other]} · {class_name(stats.majority_label[other], class_names)} · "
            f"{int(stats.sizes[other])} pts · J={jac:.2f}",
            key=f"neighbour_{ids[other]}", on_click=select_node, args=(ids[other],), width="stretch",
        )
    frame = members_frame(members, acts, dataset, class_names)
    st.download_button(
        "Download members (CSV)", frame.to_csv(index=False).encode(), file_name=f"{node_id}_members.csv",
        mime="text/csv", key="members_csv", width="stretch",
    )


def point_values(result: GraphResult, colour_by: str) -> np.ndarray:
    """Per-point value of a node colouring: the mean over the nodes that hold the point."""
    graph, stats = result.graph, result.stats
    values = np.nan_to_num(stats.values(colour_by), nan=np.nan)
    membership = graph.membership_matrix().astype(np.float64)
    finite = np.isfinite(values)
    total = membership[:, finite] @ values[finite]
    count = np.asarray(membership[:, finite].sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def render_projection(result: GraphResult, acts: ActivationSet, coords: np.ndarray, colour_by: str, class_names, height: int = 420) -> None:
    """Scatter of the 2-D projection, coloured like the graph, selected node's members on top."""
    n = coords.shape[0]
    rng = np.random.default_rng(0)
    shown = np.arange(n) if n <= MAX_PROJECTED_POINTS else np.sort(rng.choice(n, MAX_PROJECTED_POINTS, replace=False))
    node_id = st.session_state.get("selected_node")
    ids = result.graph.node_ids
    selected = np.zeros(n, dtype=bool)
    if node_id in ids:
        selected[result.graph.node_members[ids.index(node_id)]] = True
        shown = np.union1d(shown, np.flatnonzero(selected))
    frame = pd.DataFrame({
        "x": coords[shown, 0], "y": coords[shown, 1],
        "class": [class_name(v, class_names) for v in acts.label[shown]],
        "in selected node": selected[shown],
        "row": shown,
    })
    tooltip = ["row", "class"]
    if colour_by == "majority_label":
        domain = [class_name(k, class_names) for k in range(len(class_names))] if class_names else sorted(frame["class"].unique())
        palette = [CATEGORICAL_PALETTE[k % len(CATEGORICAL_PALETTE)] for k in range(len(domain))]
        colour = alt.Color("class:N", scale=alt.Scale(domain=domain, range=palette), legend=alt.Legend(title="label", orient="right"))
    else:
        frame["value"] = point_values(result, colour_by)[shown]
        scheme = SEQUENTIAL_SCALES["magma" if colour_by in ("misclassified", "anomaly", "attacked") else "viridis"]
        colour = alt.Color("value:Q", scale=alt.Scale(range=list(scheme)), legend=alt.Legend(title=colour_by))
        tooltip.append("value")
    frame = frame.sort_values("in selected node")  # selected members drawn last (on top)
    chart = (
        alt.Chart(frame)
        .mark_circle(stroke="#111111")
        .encode(
            x=alt.X("x:Q", title="component 1", axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("y:Q", title="component 2", axis=alt.Axis(labels=False, ticks=False)),
            color=colour,
            size=alt.condition("datum['in selected node']", alt.value(70), alt.value(14)),
            opacity=alt.condition("datum['in selected node']", alt.value(1.0), alt.value(0.35 if selected.any() else 0.7)),
            strokeWidth=alt.condition("datum['in selected node']", alt.value(1.2), alt.value(0.0)),
            tooltip=tooltip,
        )
        .properties(height=height)
        .interactive()
    )
    st.altair_chart(chart, width="stretch")
    st.caption(
        f"{len(shown):,} of {n:,} points shown"
        + (f"; the {int(selected.sum())} members of {html.escape(node_id)} are large and outlined" if selected.any() else "")
    )


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as UTF-8 CSV."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()

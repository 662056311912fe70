"""Compare: two to four runs side by side on the same inputs, linked.

Each panel is a (model, weights, layer) graph of the same samples with the same Mapper
parameters, colours and class colours. Clicking a node outlines, in the other panels, the
nodes its members went to. Below: the metrics table, the layer trajectory of the panels'
models and the member flow between two panels (all computed by topoact.compare).
"""

from __future__ import annotations

import html
from functools import partial

import numpy as np
import streamlit as st

import zoo
from dashboard import services
from dashboard.components import mapper_graph
from dashboard.state import mapper_defaults
from dashboard.widgets import PageProgress, legend_html
from topoact import TopoactError
from topoact.compare import (
    FLOW_LEVELS,
    METRIC_DESCRIPTIONS,
    check_same_inputs,
    comparison_table,
    member_flow,
    member_shares,
)
from topoact.compare.plots import TRAJECTORY_METRICS, flow_figure, trajectory_figure
from topoact.mapper import Mapper
from topoact.viz import CATEGORICAL_PALETTE, COLOUR_BY, Legend, build_graph_view, class_name
from topoact.workflow import ExtractionSpec

GRAPH_HEIGHT = 360
#: What the panels open on: trained and untrained digits models at a layer where classes separate.
PANEL_DEFAULTS = [("digits_cnn", "pretrained", "block3"), ("digits_mlp", "pretrained", "hidden2"),
                  ("digits_cnn", "untrained", "block3"), ("digits_mlp", "untrained", "hidden2")]
UNTRAINED = " (untrained)"
COLOURINGS = ["majority_label", "purity", "lens", "misclassified"]

st.session_state.setdefault("compare_selected", None)
_MAPPER_DEFAULTS = mapper_defaults()


def _on_click(panel: int) -> None:
    value = st.session_state.get(f"compare_graph_{panel}")
    if isinstance(value, dict) and value.get("node"):
        st.session_state["compare_selected"] = {"panel": panel, "node": str(value["node"])}


def _clear_selection() -> None:
    st.session_state["compare_selected"] = None


st.header("Compare")
st.caption("The same inputs and Mapper parameters in every panel. Click a node: the nodes its members went to "
           "are outlined in the other panels (thicker = more of them).")

datasets = [d for d in zoo.list_datasets() if zoo.get_dataset(d).offline and not zoo.get_dataset(d).needs_path]
top = st.columns([0.8, 1.1, 1.0, 1.2])
n_panels = top[0].slider("Panels", 2, 4, 3, key="compare_panels")
dataset_name = top[1].selectbox("Dataset", datasets, index=datasets.index("digits"), key="compare_dataset")
limit_value = top[2].number_input("Sample size", 50, 5000, 1000, step=100, key="compare_limit")
colour_by = top[3].selectbox("Colour nodes by", COLOURINGS, format_func=COLOUR_BY.get, key="compare_colour_by")
with st.expander("Mapper parameters (every panel)"):
    m1, m2, m3 = st.columns(3)
    intervals = m1.slider("Intervals", 4, 60, _MAPPER_DEFAULTS["n_intervals"], key="compare_intervals")
    overlap = m2.slider("Overlap", 0.1, 0.7, _MAPPER_DEFAULTS["overlap"], step=0.05, key="compare_overlap")
    min_samples = m3.slider("min_samples", 2, 20, _MAPPER_DEFAULTS["min_samples"], key="compare_min_samples")
mapper_choice = Mapper(n_intervals=int(intervals), overlap=float(overlap), min_samples=int(min_samples))

try:
    dataset = services.load_dataset(dataset_name)
except (zoo.ZooError, OSError, ValueError) as exc:
    st.error(f"Could not load {html.escape(dataset_name)}: {html.escape(str(exc))}")
    st.stop()
class_names = list(dataset.class_names)
limit = None if limit_value >= len(dataset) else int(limit_value)
modality = dataset.modality
models = zoo.list_models(offline=True, modality=modality)
runnable = [f"{m}{suffix}" for m in models for suffix in ("", UNTRAINED)]  # each model and its random control
choices: list[ExtractionSpec] = []
for k, col in enumerate(st.columns(n_panels)):
    model_default, weights_default, layer_default = PANEL_DEFAULTS[k]
    default = model_default + (UNTRAINED if weights_default == "untrained" else "")
    pick, layer_col = col.columns([3, 2])
    picked = pick.selectbox(f"Model {k + 1}", runnable, key=f"compare_model_{k}",
                            index=runnable.index(default) if default in runnable else 0)
    model_name, weights = (picked.removesuffix(UNTRAINED), "untrained") if picked.endswith(UNTRAINED) \
        else (picked, "pretrained")
    layers = list(zoo.get(model_name).default_layers)
    layer = layer_col.selectbox("Layer", layers, key=f"compare_layer_{k}",
                                index=layers.index(layer_default) if layer_default in layers else len(layers) // 2)
    choices.append(ExtractionSpec(model_name, dataset_name, (layer,), sampling=services.samplings_for(modality)[0],
                                  limit=limit, weights=weights))

progress = PageProgress()
try:
    panels = [services.get_run(c, mapper_choice, progress.stage(k / n_panels, (k + 1) / n_panels))
              for k, c in enumerate(choices)]
    runs = [run for run, _ in panels]
    check_same_inputs([run.acts for run in runs])
except (zoo.ZooError, TopoactError, ValueError, RuntimeError, OSError) as exc:
    progress.done()
    st.error(f"Could not build the comparison: {html.escape(str(exc))}")
    st.stop()
progress.done()

# ------------------------------------------------------------------ graphs in one row
selected = st.session_state.get("compare_selected")
if selected and not (selected["panel"] < n_panels and selected["node"] in runs[selected["panel"]].graph.node_ids):
    selected = st.session_state["compare_selected"] = None
selected_rows = None
if selected:
    source = runs[selected["panel"]].graph
    selected_rows = source.node_members[source.node_ids.index(selected["node"])]

value_range = None
if colour_by == "lens":  # one scale for every panel
    lens = np.concatenate([result.stats.lens_mean for _, result in panels if result.graph.n_nodes])
    value_range = (float(lens.min()), float(lens.max())) if lens.size else None
views = []
for k, (run, result) in enumerate(panels):
    highlight = None
    if selected_rows is not None and k != selected["panel"]:
        highlight = member_shares(run.graph, selected_rows)
    views.append(build_graph_view(run.graph, result.stats, result.positions, colour_by=colour_by,
                                  class_names=class_names, structure_key=result.key, value_range=value_range,
                                  highlight=highlight))

for k, (col, (run, result), view) in enumerate(zip(st.columns(n_panels), panels, views)):
    with col:
        summary = run.graph.summary()
        st.markdown(
            f"<div data-testid='compare-panel-title' style='font-size:15px'><b>{html.escape(run.spec.name)}</b></div>"
            f"<div style='font-size:12px;color:#6b7280'>{summary['nodes']} nodes · {summary['edges']} edges · "
            f"{summary['components']} components · {summary['loops']} loops · depth {run.depth:.2f}"
            f"{' · from cache' if result.from_cache else ''}</div>",
            unsafe_allow_html=True,
        )
        if run.graph.n_nodes == 0:
            st.warning("Empty graph: every point was DBSCAN noise with these parameters.")
            continue
        mapper_graph(view, selected=selected["node"] if selected and selected["panel"] == k else None,
                     height=GRAPH_HEIGHT, key=f"compare_graph_{k}", on_change=partial(_on_click, k))

if colour_by == "majority_label":
    legend = Legend("majority label", "categorical", entries=[
        (class_name(v, class_names), CATEGORICAL_PALETTE[v % len(CATEGORICAL_PALETTE)]) for v in range(len(class_names))])
else:
    legend = views[0].legend
st.markdown(legend_html(legend), unsafe_allow_html=True)

if selected:
    source_run = runs[selected["panel"]]
    lines = []
    for k, run in enumerate(runs):
        if k == selected["panel"]:
            continue
        shares = member_shares(run.graph, selected_rows)
        held = np.flatnonzero(shares > 0)
        lost = 1.0 - len(np.intersect1d(selected_rows, run.graph.covered_points)) / max(selected_rows.size, 1)
        best = held[np.argsort(-shares[held], kind="stable")][:3]
        where = ", ".join(f"{html.escape(run.graph.node_ids[i])} ({shares[i]:.0%})" for i in best)
        lines.append(f"<li><b>{html.escape(run.spec.name)}</b>: in {held.size} nodes; most in {where or '—'}"
                     f"{f'; {lost:.0%} are noise there' if lost > 0 else ''}</li>")
    info, clear = st.columns([5, 1])
    info.markdown(
        f"<div data-testid='compare-selection'>Selected <b>{html.escape(selected['node'])}</b> of "
        f"<b>{html.escape(source_run.spec.name)}</b> ({selected_rows.size} members). Where they went:"
        f"<ul style='margin:0'>{''.join(lines)}</ul></div>", unsafe_allow_html=True)
    clear.button("Clear selection", key="compare_clear", on_click=_clear_selection)

# ------------------------------------------------------------------ below: metrics, trajectory, flow
metrics_tab, trajectory_tab, flow_tab = st.tabs(["Metrics", "Layer trajectory", "Member flow"],
                                                key="compare_tab", on_change="rerun")
with metrics_tab:
    if metrics_tab.open:
        table = comparison_table(runs)
        st.dataframe(
            table.round(3), hide_index=True, width="stretch", key="compare_metrics",
            column_config={name: st.column_config.Column(help=text) for name, text in METRIC_DESCRIPTIONS.items()}
            | {"depth": st.column_config.Column(help="share of the model's modules run up to this layer"),
               "flow_change": st.column_config.Column(help="flow distance to the previous layer of the same model "
                                                      "among the panels (0 = same grouping, 1 = unrelated)")},
        )
with trajectory_tab:
    if trajectory_tab.open:
        shown = st.multiselect("Metrics", [m for m in TRAJECTORY_METRICS] + [m for m in METRIC_DESCRIPTIONS
                               if m not in TRAJECTORY_METRICS], default=list(TRAJECTORY_METRICS)[:4],
                               key="compare_trajectory_metrics")
        series = list(dict.fromkeys((c.model, c.weights) for c in choices))
        st.caption("Every default layer of the panels' models, against relative depth (0 = input, 1 = last layer).")
        bar = PageProgress()
        layer_choices = [choices[0].replace(model=m, layers=(layer,), weights=w)
                         for m, w in series for layer in zoo.get(m).default_layers]
        try:
            layer_runs = [services.get_run(c, mapper_choice, bar.stage(k / len(layer_choices), (k + 1) / len(layer_choices)))[0]
                          for k, c in enumerate(layer_choices)]
        except (zoo.ZooError, TopoactError, ValueError, RuntimeError, OSError) as exc:
            layer_runs = []
            st.error(f"Could not build the trajectory: {html.escape(str(exc))}")
        bar.done()
        if layer_runs and shown:
            figure = trajectory_figure(comparison_table(layer_runs), shown, title=dataset_name)
            st.pyplot(figure, clear_figure=False)
with flow_tab:
    if flow_tab.open:
        names = [run.spec.name for run in runs]
        f1, f2, f3 = st.columns([2, 2, 1])
        first = f1.selectbox("From", range(len(runs)), format_func=lambda k: names[k], key="compare_flow_from")
        second = f2.selectbox("To", range(len(runs)), index=1, format_func=lambda k: names[k], key="compare_flow_to")
        level = f3.radio("Rows and columns", FLOW_LEVELS[::-1], format_func=lambda v: v + "s", key="compare_flow_level")
        if first == second:
            st.info("Pick two different panels.")
        else:
            a, b = runs[first], runs[second]
            flow = member_flow(a.graph, b.graph, labels=a.acts.label, level=level, names=(names[first], names[second]))
            strong = selected["node"] if selected and selected["panel"] == first and level == "node" else None
            st.pyplot(flow_figure(flow, a.graph, b.graph, a.acts.label, class_names=class_names, highlight=strong),
                      clear_figure=False)
            events = flow.splits[:6] + flow.merges[:6]
            st.markdown(
                f"<div data-testid='flow-events'><b>{len(flow.splits)} splits, {len(flow.merges)} merges</b>"
                + "<ul>" + "".join(f"<li>{html.escape(e.sentence)}</li>" for e in events) + "</ul></div>",
                unsafe_allow_html=True,
            )
            if level == "component":
                st.dataframe(flow.matrix(), width="stretch", key="compare_flow_matrix")
            else:
                links = flow.links().sort_values("points", ascending=False).head(40)
                st.dataframe(links.round(2), hide_index=True, width="stretch", key="compare_flow_links")

"""Explore: pick a model, dataset and layer; see the Mapper graph; inspect a node."""

from __future__ import annotations

import dataclasses
import html

import streamlit as st

import zoo
from dashboard import services
from topoact import TopoactError
from dashboard.components import mapper_graph
from dashboard.state import MANUAL_EPS, mapper_from_state, select_node
from dashboard.widgets import (
    PageProgress,
    legend_html,
    node_table,
    render_inspector,
    render_projection,
)
from topoact.anomaly import combined_per_row
from topoact.mapper import LENSES
from topoact.viz import COLOUR_BY, build_graph_view, class_name, graph_view_html, node_stats
from topoact.viz.projection import available_projections
from topoact.workflow import ExtractionSpec

UPLOAD_TYPES = list(services.UPLOAD_TYPES)
UPLOAD_MAX_MB = services.UPLOAD_MAX_MB
GRAPH_HEIGHT = 540
#: Nodes the batch button renders at a time.
BATCH_RENDER = 10

#: eps choices of the sidebar: the Mapper's rules, then a fixed radius.
EPS_MODES = {"hausdorff": "data scale", "adaptive": "per element", "auto": "quantile", "knee": "knee",
             "manual": "manual"}
#: Above this share of noise points the page warns.
NOISE_WARNING = 0.10


def _keep(options: list, name: str) -> None:
    """Keep a remembered choice only while it is still one of the options."""
    if st.session_state.get(name) not in options:
        st.session_state[name] = options[0]


def _on_graph_click() -> None:
    value = st.session_state.get("graph_click")
    if isinstance(value, dict) and value.get("node"):
        select_node(str(value["node"]))


def _on_table_select() -> None:
    selection = st.session_state.get("node_table_widget")
    rows = selection.selection.rows if selection is not None else []
    ids = st.session_state.get("_table_node_ids", [])
    if rows and rows[0] < len(ids):
        select_node(ids[rows[0]])


# ------------------------------------------------------------------ sidebar: data
with st.sidebar:
    st.markdown("### Data")
    models = services.model_choices()
    _keep(models, "model")
    st.selectbox("Model", models, key="model", format_func=services.model_label,
                 help="✓ offline: weights ship with topoact (or train in seconds); (hub): needs the model hub.")
    st.text_input("…or a model id from the zoo", key="custom_model", placeholder="e.g. resnet18")

model_name = st.session_state["custom_model"].strip() or st.session_state["model"]
try:
    entry = zoo.get(model_name)
except zoo.ZooError as exc:
    st.error(f"Unknown model **{html.escape(model_name)}**. {html.escape(str(exc))}")
    st.stop()

with st.sidebar:
    datasets = [d for d in zoo.list_datasets(modality=entry.modality)
                if not zoo.get_dataset(d).needs_path or d == "text-file"]
    _keep(datasets, "dataset")
    st.selectbox("Dataset", datasets, key="dataset", help="Datasets of the model's modality.")
    dataset_path = None
    if st.session_state["dataset"] == "text-file":
        upload = st.file_uploader("Your text file", type=UPLOAD_TYPES, max_upload_size=UPLOAD_MAX_MB,
                                  help=f"One text per line (.txt) or a text[,label] table (.csv/.tsv), at most {UPLOAD_MAX_MB} MB.")
        if upload is None:
            st.info("Upload a text file to explore it.")
            st.stop()
        dataset_path, problem = services.save_uploaded_text(upload.name, upload.getvalue(), UPLOAD_MAX_MB)
        if problem:
            st.error(problem)
            st.stop()

progress = PageProgress()
try:
    progress(0.02, f"loading {model_name} (the digits models train in seconds on first use)")
    model = services.load_model(model_name)
    progress(0.08, f"loading dataset {st.session_state['dataset']}")
    dataset = services.load_dataset(st.session_state["dataset"], dataset_path)
    if dataset_path is not None and dataset.modality != entry.modality:
        raise zoo.ZooError(f"{model_name} takes {entry.modality}, the file holds {dataset.modality}")
except (zoo.ZooError, OSError, ValueError) as exc:
    progress.done()
    st.error(f"Could not load **{html.escape(model_name)}** / **{html.escape(st.session_state['dataset'])}**: {html.escape(str(exc))}")
    st.stop()

class_names = list(dataset.class_names)
with st.sidebar:
    layers = list(entry.default_layers) + [name for name in model.layers() if name not in entry.default_layers]
    if st.session_state.get("layer") not in layers:
        st.session_state["layer"] = services.default_layer(model_name, layers)
    st.selectbox("Layer", layers, key="layer", help="The model's default layers first, then every module.")
    samplings = list(services.samplings_for(entry.modality))
    _keep(samplings, "sampling")
    st.selectbox("Sampling", samplings, key="sampling",
                 help="How one vector is taken per input: a random position (TopoAct), pooled, max-norm, …")
    n_samples = len(dataset)
    if not isinstance(st.session_state.get("sample_size"), int) or not 10 <= st.session_state["sample_size"] <= n_samples:
        st.session_state["sample_size"] = min(n_samples, services.DEFAULT_SAMPLE_SIZE)
    st.number_input("Sample size (inputs)", min_value=10, max_value=n_samples, step=100, key="sample_size",
                    help=f"Inputs drawn (seeded) from the {n_samples:,} of {dataset.name}.")

    st.markdown("### Mapper")
    lenses = list(LENSES)
    _keep(lenses, "lens")
    st.selectbox("Lens", lenses, key="lens", help="The filter function; TopoAct used the L2 norm.")
    st.checkbox("Intervals from the data", key="auto_intervals",
                help="Carrière–Michel–Oudot's resolution rule (1-D lenses only).")
    st.slider("Intervals", 2, 120, key="n_intervals", disabled=st.session_state["auto_intervals"])
    st.slider("Overlap", 0.05, 0.85, step=0.05, key="overlap")
    st.radio("DBSCAN eps", list(EPS_MODES), key="eps_mode", horizontal=True, format_func=EPS_MODES.get,
             help="data scale: the mean Hausdorff distance between the data and its subsamples "
                  "(Carrière–Michel–Oudot); per element: 3 × the median k-NN distance in each cover element "
                  "(TopoAct's adaptive eps); quantile: the 0.9 quantile of the k-NN distances; "
                  "knee: TopoBERT's rule; manual: a fixed radius.")
    if st.session_state["eps_mode"] == MANUAL_EPS:
        st.number_input("eps", min_value=1e-6, format="%.4f", key="eps_value")
    st.slider("min_samples", 1, 50, key="min_samples")
    st.selectbox("Metric", ["euclidean", "cosine"], key="metric")
    st.number_input("Bootstrap resamples (0: off)", min_value=0, max_value=200, step=10, key="resamples",
                    help="Rebuild the graph on this many resamples of the points and say how often each "
                         "component, loop and flare persists.")

limit = None if st.session_state["sample_size"] >= n_samples else int(st.session_state["sample_size"])
choice = ExtractionSpec(model_name, st.session_state["dataset"], (st.session_state["layer"],),
                        sampling=st.session_state["sampling"], limit=limit, dataset_path=dataset_path)
mapper_choice = mapper_from_state(st.session_state)  # unfitted: its parameters name the graph

# ------------------------------------------------------------------ compute
try:
    acts_key, acts = services.get_activations(choice, progress.stage(0.1, 0.6))
    result = services.get_graph(acts_key, acts, mapper_choice, progress.stage(0.6, 0.98))
except (zoo.ZooError, ValueError, RuntimeError, TopoactError) as exc:  # TopoactError: the Ray engine, the cache
    progress.done()
    st.error(f"Could not build the graph: {html.escape(str(exc))}")
    st.stop()
progress.done()
graph = result.graph
st.session_state["explored"] = (choice, mapper_choice)  # what the Anomalies page ranks

st.markdown(
    f"<div style='display:flex;justify-content:space-between;align-items:baseline'>"
    f"<h3 style='margin:0;padding:0'>{html.escape(model_name)} · {html.escape(choice.layer)}</h3>"
    f"<span style='color:#6b7280;font-size:13px'>{html.escape(dataset.name)} · {acts.n_rows:,} vectors × {acts.dim} · "
    f"sampling {html.escape(choice.sampling)} · eps {result.eps_used:.3g}"
    f"{' · from cache' if result.from_cache else ''}</span></div>",
    unsafe_allow_html=True,
)
summary = graph.summary()
noise_share = graph.n_noise / max(graph.n_points, 1)
st.markdown(
    "<div data-testid='graph-summary' style='font-size:14px;color:#374151;margin:2px 0 6px 0'>"
    + " · ".join(f"<b>{summary[k]:,}</b> {k.replace('_', ' ')}" for k in
                 ("nodes", "edges", "components", "loops", "branch_points", "noise_points"))
    + f" <span data-testid='noise-share'>({noise_share:.1%} of the points are noise)</span></div>",
    unsafe_allow_html=True,
)
choices = graph.params.get("choices") or []
if choices:
    st.sidebar.markdown(
        "<div data-testid='chosen-parameters' style='font-size:13px'><b>Chosen for this graph</b><ul>"
        + "".join(f"<li>{html.escape(sentence)}</li>" for sentence in choices) + "</ul></div>",
        unsafe_allow_html=True,
    )
if noise_share > NOISE_WARNING:
    st.warning(f"{noise_share:.0%} of the points are DBSCAN noise (in no node): the graph may show fragments "
               "the data does not have. Try eps = data scale, a larger eps or a smaller min_samples.")
if graph.n_nodes == 0:
    st.warning(
        "These parameters give an empty graph: every point was DBSCAN noise. "
        "Try eps = auto or a larger eps, a smaller min_samples, or fewer intervals."
    )
    st.stop()

# ------------------------------------------------------------------ view controls
has_labels = bool((acts.label >= 0).any())
# "attacked share" belongs to clean + attacked graphs (the Robustness page)
colour_options = [k for k in COLOUR_BY if k != "attacked" and (k != "anomaly" or has_labels)]
if not acts.prediction.size or (acts.prediction < 0).all():
    colour_options = [k for k in colour_options if k not in ("confidence", "misclassified")]
_keep(colour_options, "colour_by")
search_options = ["(none)"] + class_names
_keep(search_options, "search_class")
image_model = entry.modality == "image"
c1, c2, c3, c4 = st.columns([1.2, 1.4, 1.2, 0.8])
c1.selectbox("Colour nodes by", colour_options, key="colour_by", format_func=COLOUR_BY.get,
             help="anomaly score: the members' mean combined score, as ranked on the Anomalies page.")
c2.slider("Hide edges with Jaccard below", 0.0, 1.0, step=0.05, key="jaccard_threshold")
c3.selectbox("Find class", search_options, key="search_class", help="Fades nodes with no member of this class.")
c4.checkbox("Node icons", key="featvis_icons", disabled=not image_model,
            help="Draw every node that has a feature visualization as that image (render them in the inspector "
                 "or below the graph).")
search_label = None if st.session_state["search_class"] == "(none)" else class_names.index(st.session_state["search_class"])
icons = services.graph_icons(model, acts, result) if image_model else {}

if st.session_state["colour_by"] == "anomaly":
    with st.spinner("Scoring samples for anomalies…"):
        scoring, scored = services.get_scored_graph(acts_key, acts, mapper_choice)
        report = services.get_anomalies(acts, scored, scoring)
    result = dataclasses.replace(result, stats=node_stats(
        graph, acts.label, acts.prediction, acts.confidence, combined_per_row(acts, report.samples)))

view = build_graph_view(
    graph, result.stats, result.positions, colour_by=st.session_state["colour_by"], class_names=class_names,
    jaccard_threshold=float(st.session_state["jaccard_threshold"]), search_label=search_label,
    structure_key=result.key, node_images=icons, image_nodes=image_model and st.session_state["featvis_icons"],
)
if st.session_state.get("selected_node") not in graph.node_ids:
    st.session_state["selected_node"] = None

graph_col, inspector_col = st.columns([3, 2], gap="medium")
with graph_col:
    mapper_graph(view, selected=st.session_state["selected_node"], height=GRAPH_HEIGHT, key="graph_click",
                 on_change=_on_graph_click)
    st.markdown(legend_html(view.legend), unsafe_allow_html=True)
    if search_label is not None:
        st.caption(f"{view.n_matching_nodes} of {graph.n_nodes} nodes hold {html.escape(class_names[search_label])}.")
    if image_model:
        b1, b2 = st.columns([2.2, 1])
        b1.caption(f"Feature visualizations: {len(icons)} of {graph.n_nodes} nodes rendered "
                   "(shown in tooltips and, with *Node icons*, as the nodes).")
        waiting = services.unrendered_nodes(result, icons, BATCH_RENDER)
        if waiting and b2.button(f"Render {len(waiting)} more", key="featvis_batch", width="stretch",
                                help="Feature visualizations of the largest nodes that have none yet, with a "
                                     "progress bar (seconds each on the digits models)."):
            batch = st.progress(0.0, text="rendering feature visualizations")
            for k, node in enumerate(waiting):
                def stepped(fraction: float, message: str, k: int = k, node: str = node) -> None:
                    batch.progress(min((k + fraction) / len(waiting), 1.0),
                                   text=f"node {k + 1} of {len(waiting)} ({node}): {message}")

                services.render_visualization(model, acts, graph.node_members[graph.node_ids.index(node)], stepped)
            batch.empty()
            st.rerun()
if int(st.session_state["resamples"]) > 0:
    n_resamples = int(st.session_state["resamples"])
    bar = st.progress(0.0, text="bootstrap")
    findings = services.get_confidence(acts_key, acts, result, mapper_choice, n_resamples,
                                       lambda f, m: bar.progress(min(f, 1.0), text=m))
    bar.empty()
    with graph_col:
        st.markdown(
            "<div data-testid='feature-confidence' style='font-size:13px'><b>Confidence of each feature</b><ul>"
            + "".join(
                f"<li><span style='display:inline-block;min-width:3.2em;padding:0 4px;margin-right:4px;border-radius:4px;"
                f"color:white;background:{'#15803d' if f.confidence >= 0.9 else '#b45309' if f.confidence >= 0.5 else '#b91c1c'}'>"
                f"{100 * f.confidence:.0f} %</span>{html.escape(f.sentence)}</li>"
                for f in findings
            ) + "</ul></div>",
            unsafe_allow_html=True,
        )
with inspector_col:
    with st.container(height=GRAPH_HEIGHT + 30, border=True, key="inspector"):
        st.markdown("**Node inspector**")
        render_inspector(result, acts, dataset, model, class_names)

# Hidden tabs are not built (``.open``): the projection chart and the downloads cost the
# browser seconds on a first load that shows only the table.
table_tab, projection_tab, export_tab = st.tabs(["Node table", "Linked projection", "Export"], key="below_graph_tab",
                                                on_change="rerun")
with table_tab:
    if table_tab.open:
        frame = node_table(result, class_names)
        st.session_state["_table_node_ids"] = list(frame["node"])
        st.dataframe(frame, key="node_table_widget", on_select=_on_table_select, selection_mode="single-row",
                     hide_index=True, height=320, width="stretch")
with projection_tab:
    if projection_tab.open:
        methods = available_projections()
        _keep(methods, "projection_method")
        st.radio("Projection", methods, key="projection_method", horizontal=True,
                 help="PCA of the same activation vectors; UMAP when umap-learn is installed.")
        coords = services.projection(acts_key, acts.vectors, st.session_state["projection_method"])
        render_projection(result, acts, coords, st.session_state["colour_by"], class_names)
with export_tab:
    if export_tab.open:
        st.download_button("Graph as standalone HTML (pyvis, offline)",
                           lambda: graph_view_html(view, heading=f"{model_name} {choice.layer}").encode(),
                           file_name=f"{model_name}_{choice.layer}_mapper.html", mime="text/html")
        st.download_button("Graph as JSON", lambda: graph.to_json().encode(),
                           file_name=f"{model_name}_{choice.layer}_mapper.json", mime="application/json")

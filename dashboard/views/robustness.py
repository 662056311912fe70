"""Robustness: clean and attacked inputs in one Mapper graph, vulnerability, the strength sweep."""

from __future__ import annotations

import base64
import html

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import zoo
from dashboard import services
from dashboard.components import mapper_graph
from dashboard.widgets import PageProgress, legend_html
from topoact.robustness import RobustnessConfig
from topoact.robustness.report import SWEEP_COLUMNS, combined_view
from topoact.viz import COLOUR_BY
from zoo.perturbed import parse_strength

GRAPH_HEIGHT = 480
#: Strengths offered (L-inf, share of the pixel range), and the defaults: digits models need
#: tenths of the range, ImageNet models flip at a few grey levels.
STRENGTHS = ("1/255", "2/255", "4/255", "8/255", "0.02", "0.05", "0.1", "0.2", "0.3")
DIGITS_DEFAULTS, IMAGENET_DEFAULTS = ["0.05", "0.1", "0.2"], ["1/255", "2/255", "4/255"]
TOP_SAMPLES = 40

st.header("Robustness")
st.caption("Adversarial inputs in the Mapper graph: the clean samples and their attacked versions in one graph, "
           "how easily each sample flips, whether the clean graph saw it coming, and the graph as the attack "
           "grows. Perturbed sets are ordinary datasets (adv:…) on every other page too.")

models = services.attackable_models()
datasets = services.clean_image_datasets()
top = st.columns([1.2, 1.2, 1, 0.8])
model_name = top[0].selectbox("Model", models, index=models.index("digits_cnn"), key="rob_model")
dataset_name = top[1].selectbox("Dataset", datasets, index=datasets.index("digits"), key="rob_dataset")
entry = zoo.get(model_name)
layers = list(entry.default_layers)
if st.session_state.get("rob_layer") not in layers:
    st.session_state["rob_layer"] = services.default_layer(model_name, layers)
layer = top[2].selectbox("Layer", layers, key="rob_layer")
attack = top[3].selectbox("Attack", ["pgd", "fgsm"], key="rob_attack", help="L∞, untargeted (ART)")

small_inputs = tuple(entry.input_config["input_size"][1:]) == (8, 8)
if st.session_state.get("_rob_defaults_for") != model_name:  # a new model: its usual strengths and size
    st.session_state["_rob_defaults_for"] = model_name
    st.session_state["rob_strengths"] = DIGITS_DEFAULTS if small_inputs else IMAGENET_DEFAULTS
    st.session_state["rob_limit"] = 600 if small_inputs else 20
n_samples = len(services.load_dataset(dataset_name))
st.session_state["rob_limit"] = int(min(max(st.session_state["rob_limit"], 20), n_samples))
row = st.columns([2.2, 1, 1, 0.8])
strength_names = row[0].multiselect("Strengths (L∞ radius, share of the pixel range)", STRENGTHS, key="rob_strengths")
limit = row[1].number_input("Sample size", min_value=20, max_value=n_samples, step=50, key="rob_limit")
control = row[2].checkbox("Noise control", value=True, key="rob_control",
                          help="Random ±eps on every pixel: the size of an FGSM step, no direction.")
clicked = row[3].button("Run study", type="primary", key="rob_run", width="stretch")

if clicked or "rob_config" not in st.session_state:
    if not strength_names:
        st.warning("Pick at least one strength.")
        st.stop()
    st.session_state["rob_config"] = RobustnessConfig(
        model=model_name, dataset=dataset_name, layer=layer, attack=attack,
        strengths=tuple(parse_strength(name) for name in strength_names), control="noise" if control else None,
        limit=None if limit >= n_samples else int(limit),
    )
config: RobustnessConfig = st.session_state["rob_config"]

progress = PageProgress()
try:
    result = services.robustness_study(config, progress)
except (zoo.ZooError, ValueError, RuntimeError) as exc:
    progress.done()
    st.error(f"Could not run the study: {html.escape(str(exc))}")
    st.stop()
progress.done()
report = result.report
clean_data = report.datasets[("clean", 0.0)]
middle = config.middle_strength

st.markdown(
    f"<div data-testid='robustness-title' style='display:flex;justify-content:space-between;align-items:baseline'>"
    f"<h3 style='margin:0;padding:0'>{html.escape(config.model)} · {html.escape(report.layer)}</h3>"
    f"<span style='color:#6b7280;font-size:13px'>{html.escape(config.dataset)} · {len(report.vulnerability):,} samples · "
    f"{html.escape(config.attack)} at {', '.join(f'{e:.3g}' for e in config.strengths)} · sampling "
    f"{html.escape(config.sampling)}</span></div>",
    unsafe_allow_html=True,
)

# ------------------------------------------------------------------ headline numbers
accuracy = report.accuracy
labelled = accuracy["accuracy"].notna().all()
measure, name = ("accuracy", "accuracy") if labelled else ("flipped", "flipped")
cols = st.columns(5)
cols[0].metric("clean accuracy" if labelled else "samples", f"{accuracy.loc[('clean', 0.0), 'accuracy']:.1%}"
               if labelled else f"{len(report.vulnerability):,}")
cols[1].metric(f"{config.attack} {middle:.3g}: {name}", f"{accuracy.loc[(config.attack, middle), measure]:.1%}")
if config.control:
    cols[2].metric(f"noise {middle:.3g}: {name}", f"{accuracy.loc[('noise', middle), measure]:.1%}")
if report.prediction is not None:
    auroc = report.prediction["auroc"]
    best_graph = auroc[["point_purity", "node_mix", "lens_position"]].idxmax()
    cols[3].metric(f"AUROC {best_graph.replace('_', ' ')}", f"{auroc[best_graph]:.3f}",
                   help=f"The best clean-graph score at predicting which samples flip at strength ≤ "
                   f"{report.small_strength:.3g}")
    cols[4].metric("AUROC confidence margin", f"{auroc['margin']:.3f}", help="The baseline")

# ------------------------------------------------------------------ the clean + attacked graph
graph = report.combined_graph
st.markdown(f"**Clean + {html.escape(config.attack)} {middle:.3g} in one graph** · {graph.n_nodes} nodes · "
            f"{graph.n_edges} edges · {graph.n_points:,} points (half attacked)")
options = result.stats.colourings()
options = ["attacked"] + [k for k in options if k != "attacked"]
if st.session_state.get("rob_colour_by") not in options:
    st.session_state["rob_colour_by"] = "attacked"
graph_col, table_col = st.columns([3, 2], gap="medium")
with graph_col:
    colour_by = st.selectbox("Colour nodes by", options, key="rob_colour_by", format_func=COLOUR_BY.get)
    view = combined_view(report, colour_by=colour_by, stats=result.stats, positions=result.positions,
                         structure_key=f"robustness-{hash(config)}")
    mapper_graph(view, height=GRAPH_HEIGHT, key="rob_graph")
    st.markdown(legend_html(view.legend), unsafe_allow_html=True)
with table_col:
    st.markdown("**Where attacks mix classes** — clean samples sitting with attacked samples of another class")
    mix = report.mix.reset_index()
    mix["majority_label"] = [html.escape(str(clean_data.class_names[v])) if isinstance(v, (int, np.integer))
                             and 0 <= v < len(clean_data.class_names) else str(v) for v in mix["majority_label"]]
    st.dataframe(
        mix.rename(columns={"clean_with_foreign_attacked": "clean beside other-class attacked",
                            "foreign_attacked": "attacked of a class new to the node", "attacked_share": "attacked share"}),
        hide_index=True, height=GRAPH_HEIGHT + 30, width="stretch", key="rob_mix",
        column_config={"attacked share": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.2f")},
    )

vulnerability_tab, sweep_tab, accuracy_tab = st.tabs(["Vulnerability", "Strength sweep", "Accuracy"],
                                                      key="rob_tab", on_change="rerun")
with vulnerability_tab:
    if vulnerability_tab.open:
        share = float((report.vulnerability["flip_strength"] <= report.small_strength).mean())
        st.markdown(f"Does the **clean** graph point at the samples that flip at strength ≤ "
                    f"{report.small_strength:.3g} ({share:.0%} of them)? Rank correlation with how easily a sample "
                    "flips, and AUROC; the model's confidence margin is the baseline.")
        if report.prediction is None:
            st.info("Every sample (or none) flips at that strength: nothing to rank. Try other strengths.")
        else:
            left, right = st.columns([1.3, 1])
            left.dataframe(report.prediction.round(3), width="stretch", key="rob_prediction")
            bars = report.prediction.reset_index()
            chart = alt.Chart(bars).mark_bar().encode(
                x=alt.X("auroc:Q", scale=alt.Scale(domain=[0, 1]), title="AUROC"),
                y=alt.Y("predictor:N", sort=None, title=None),
                color=alt.condition(alt.datum.predictor == "margin", alt.value("#9ca3af"), alt.value("#4e79a7")),
            )
            right.altair_chart(chart + alt.Chart(pd.DataFrame({"x": [0.5]})).mark_rule(strokeDash=[4, 3]).encode(x="x:Q"),
                               width="stretch")
        st.markdown(f"**The {TOP_SAMPLES} most vulnerable samples** (smallest flip strength, then lowest margin)")
        table = report.vulnerability.sort_values(["flip_strength", "margin"]).head(TOP_SAMPLES).copy()
        table.insert(0, "image", [
            "data:image/png;base64," + base64.b64encode(clean_data.thumbnail(int(i), size=48)).decode()
            for i in table.index])
        table["label"] = [str(clean_data.class_names[v]) if v >= 0 else "unlabelled" for v in table["label"]]
        st.dataframe(table.round(3), width="stretch", key="rob_samples", height=360,
                     column_config={"image": st.column_config.ImageColumn("image", width="small")})
with sweep_tab:
    if sweep_tab.open:
        st.markdown("Metrics of the graph of the **attacked** activations as the strength grows (0 = clean; the "
                    "Compare page's metrics): the attack dissolves the class structure, noise of the same size "
                    "much later.")
        sweep = report.sweep[list(SWEEP_COLUMNS)]
        long = sweep.reset_index().melt(id_vars=["attack", "strength"], var_name="metric", value_name="value")
        chart = alt.Chart(long).mark_line(point=True).encode(
            x=alt.X("strength:Q", title="strength (L∞)"), y=alt.Y("value:Q", title=None),
            color=alt.Color("attack:N", scale=alt.Scale(domain=[config.attack, "noise"], range=["#e15759", "#9ca3af"]),
                            legend=alt.Legend(orient="top", title=None)),
            tooltip=["attack", "strength", "metric", alt.Tooltip("value:Q", format=".3f")],
        ).properties(width=165, height=150).facet(facet=alt.Facet("metric:N", title=None, sort=list(SWEEP_COLUMNS)), columns=4).resolve_scale(y="independent")
        st.altair_chart(chart)
        st.dataframe(sweep.round(4), width="stretch", key="rob_sweep")
with accuracy_tab:
    if accuracy_tab.open:
        frame = accuracy.reset_index()
        clean_row = frame[frame["attack"] == "clean"]
        curves = pd.concat([clean_row.assign(attack=a) for a in frame["attack"].unique() if a != "clean"]
                           + [frame[frame["attack"] != "clean"]])
        chart = alt.Chart(curves).mark_line(point=True).encode(
            x=alt.X("strength:Q", title="strength (L∞)"), y=alt.Y(f"{measure}:Q", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("attack:N", scale=alt.Scale(domain=[config.attack, "noise"], range=["#e15759", "#9ca3af"])),
        ).properties(height=260)
        st.altair_chart(chart, width="stretch")
        st.dataframe(accuracy.round(4), width="stretch", key="rob_accuracy")

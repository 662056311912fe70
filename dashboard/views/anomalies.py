"""Anomalies: the samples of the explored activations ranked as anomaly candidates, with reasons.

The same :func:`topoact.anomaly.anomaly_report` as ``python -m topoact anomalies``, on the
activations and cover the Explore page shows, with the anomaly eps rule where Explore uses
another rule (:func:`dashboard.services.scoring_mapper`).
"""

from __future__ import annotations

import base64
import html

import pandas as pd
import streamlit as st

from dashboard import services
from dashboard.widgets import PageProgress, csv_bytes
from topoact import TopoactError
from topoact.mapper import Mapper
from topoact.viz import class_name

st.header("Anomalies")

explored = st.session_state.get("explored")
if explored is None:  # opened before Explore: rank the default view
    choice, mapper_choice = services.default_spec(), Mapper()
else:
    choice, mapper_choice = explored

progress = PageProgress()
try:
    acts_key, acts = services.get_activations(choice, progress.stage(0.0, 0.4))
    scoring, result = services.get_scored_graph(acts_key, acts, mapper_choice, progress.stage(0.4, 0.6))
    dataset = services.load_dataset(choice.dataset, choice.dataset_path)
except (ValueError, RuntimeError, TopoactError) as exc:
    progress.done()
    st.error(f"Could not build the graph: {html.escape(str(exc))}")
    st.stop()
class_names = list(dataset.class_names)
progress.done()

st.markdown(
    f"Candidates in the graph of **{html.escape(choice.model)} · {html.escape(choice.layer)}** on "
    f"{html.escape(dataset.name)}: {acts.n_rows:,} vectors, {mapper_choice.n_intervals} intervals, "
    f"{mapper_choice.overlap:.0%} overlap, {result.graph.n_nodes} nodes. Change the model, layer or "
    "Mapper parameters on **Explore**; this page follows them."
)
if scoring is not mapper_choice:
    st.caption(
        f"Scored on the graph with eps rule “{html.escape(str(scoring.eps))}” ({result.graph.n_nodes} nodes), "
        f"finer than the explored “{html.escape(str(mapper_choice.eps))}”: "
        "node scores compare a sample's label with its node, so they need nodes that resolve classes "
        "(as `python -m topoact anomalies`). A number for eps on Explore is used as given."
    )
if not (acts.label >= 0).any():
    st.warning(f"{html.escape(dataset.name)} has no labels: the anomaly ranking needs labelled samples.")
    st.stop()
if result.graph.n_nodes == 0:
    st.warning("The explored graph has no nodes (every point was DBSCAN noise); change its parameters on Explore.")
    st.stop()

c1, c2, c3 = st.columns([1, 1, 1.4])
top = c1.slider("Candidates shown", 10, 200, 50, step=10, key="anomaly_top")
k = c2.slider("Neighbours (k-NN, LOF)", 3, 50, 10, key="anomaly_k")
sweep = c3.toggle("Stability over 9 cover settings", key="anomaly_sweep",
                  help="Refit the graph with intervals ±5 and overlap ±0.1 (the neighbour search is reused) "
                       "and show how often each sample stays among the candidates shown.")

progress = PageProgress()
try:
    report = services.get_anomalies(acts, result, scoring, k=k, stability_top=top if sweep else None,
                                    progress=progress.stage(0.0, 1.0))
except (ValueError, TopoactError) as exc:
    progress.done()
    st.error(f"Could not score the samples: {html.escape(str(exc))}")
    st.stop()
progress.done()

samples = report.samples
shown = samples.head(top)
strong = int((samples["combined"] >= 0.5).sum())
m1, m2, m3, m4 = st.columns(4)
m1.metric("Samples scored", f"{len(samples):,}")
m2.metric("Combined score ≥ 0.5", f"{strong:,}")
m3.metric("Never clustered", f"{int((samples['noise'] > 0).sum()):,}")
m4.metric("Label ≠ node majority", f"{int((samples['label'] != samples['node_majority']).sum()):,}")


def _thumbnail(sample: int) -> str | None:
    if dataset.modality != "image":
        return None
    return "data:image/png;base64," + base64.b64encode(dataset.thumbnail(int(sample), size=48)).decode()


# the model's prediction per sample (the same for every row of a sample)
first_row = pd.Series(range(acts.n_rows)).groupby(acts.sample_index).first()
predicted = acts.prediction[first_row.reindex(shown.index).to_numpy()]
table = pd.DataFrame({
    "rank": shown["rank"].to_numpy(),
    "id": [str(dataset.ids[int(s)]) for s in shown.index],
    "label": [class_name(int(v), class_names) for v in shown["label"]],
    "node majority": [class_name(int(v), class_names) for v in shown["node_majority"]],
    "model says": [class_name(int(v), class_names) if v >= 0 else "" for v in predicted],
    "combined": shown["combined"].to_numpy(),
})
if dataset.modality == "image":
    table.insert(1, "input", [_thumbnail(s) for s in shown.index])
else:
    table.insert(1, "input", [dataset.text(int(s))[:120] for s in shown.index])
if "stability" in shown:
    table["stability"] = shown["stability"].to_numpy()
table["reasons"] = shown["reasons"].to_numpy()
st.dataframe(
    table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 560),
    column_config={
        "input": (st.column_config.ImageColumn("input", width="small") if dataset.modality == "image"
                  else st.column_config.TextColumn("input", width="medium")),
        "combined": st.column_config.ProgressColumn("combined", min_value=0.0, max_value=1.0, format="%.3f"),
        "stability": st.column_config.ProgressColumn("stability", min_value=0.0, max_value=1.0, format="%.2f",
                                                     help="Share of the 9 cover settings where the sample "
                                                          "ranks among the candidates shown."),
        "reasons": st.column_config.TextColumn("reasons", width="large"),
    },
    key="anomaly_table",
)
st.download_button("Download all scores (CSV)", csv_bytes(samples.reset_index()),
                   file_name=f"anomalies-{choice.model}-{choice.layer}.csv", mime="text/csv")

nodes_col, structure_col = st.columns([3, 2], gap="medium")
with nodes_col:
    st.subheader("Most anomalous nodes")
    nodes = report.nodes.head(15).reset_index()
    nodes["majority_label"] = [class_name(int(v), class_names) for v in nodes["majority_label"]]
    nodes["top_samples"] = [", ".join(map(str, v)) for v in nodes["top_samples"]]
    st.dataframe(nodes.round(3), hide_index=True, width="stretch", key="anomaly_nodes")
with structure_col:
    st.subheader("Structure")
    for finding in report.structure[:20]:
        st.text(finding.sentence)
    if len(report.structure) > 20:
        st.caption(f"… and {len(report.structure) - 20} more (python -m topoact anomalies --structure).")

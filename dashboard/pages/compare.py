"""Compare: two to four (model, layer) choices side by side, with a metrics table."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import streamlit as st

import zoo
from dashboard import services
from topoact import TopoactError
from dashboard.components import mapper_graph
from dashboard.state import init_state
from dashboard.widgets import PageProgress
from topoact.viz import build_graph_view

init_state()
st.header("Compare")
st.caption("The same dataset and Mapper parameters for every panel. The linked comparison "
           "(matched nodes across layers) grows here with the comparison analysis.")

offline_models = zoo.list_models(offline=True)
top = st.columns([1, 1, 2])
n_panels = top[0].slider("Panels", 2, 4, 2, key="compare_panels")
image_datasets = [d for d in zoo.list_datasets() if not zoo.get_dataset(d).needs_path and zoo.get_dataset(d).offline]
dataset_name = top[1].selectbox("Dataset", image_datasets, index=image_datasets.index("digits"), key="compare_dataset")
limit_value = top[2].number_input("Sample size", 50, 5000, 1000, step=100, key="compare_limit")

default_layers = ["block1", "block3", "pool", "block2"]
choices = []
cols = st.columns(n_panels)
for k, col in enumerate(cols):
    with col:
        model_name = st.selectbox("Model", offline_models, index=offline_models.index("digits_cnn"), key=f"compare_model_{k}")
        entry = zoo.get(model_name)
        layers = list(entry.default_layers)
        default = default_layers[k] if default_layers[k] in layers else layers[min(k, len(layers) - 1)]
        layer = st.selectbox("Layer", layers, index=layers.index(default), key=f"compare_layer_{k}")
        choices.append((model_name, layer, entry))

mapper_choice = services.MapperChoice()
rows = []
progress = PageProgress()
for k, ((model_name, layer, entry), col) in enumerate(zip(choices, cols)):
    with col:
        try:
            dataset = services.load_dataset(dataset_name)
            if dataset.modality != entry.modality:
                st.warning(f"{html.escape(model_name)} takes {entry.modality}; {html.escape(dataset_name)} is {dataset.modality}.")
                continue
            model = services.load_model(model_name)
            limit = None if limit_value >= len(dataset) else int(limit_value)
            choice = services.ActivationChoice(model_name, dataset_name, layer, services.samplings_for(entry.modality)[0], limit)
            start, end = k / n_panels, (k + 1) / n_panels
            acts_key, acts = services.get_activations(choice, progress.stage(start, start + 0.6 * (end - start)))
            result = services.get_graph(acts_key, acts, mapper_choice, progress.stage(start + 0.6 * (end - start), end))
        except (zoo.ZooError, ValueError, RuntimeError, OSError, TopoactError) as exc:  # TopoactError: the Ray engine
            st.error(f"{html.escape(model_name)} · {html.escape(layer)}: {html.escape(str(exc))}")
            continue
        graph = result.graph
        if graph.n_nodes == 0:
            st.warning("Empty graph for these parameters.")
            continue
        view = build_graph_view(graph, result.stats, result.positions, class_names=list(dataset.class_names),
                                structure_key=result.key)
        mapper_graph(view, height=380, key=f"compare_graph_{k}")
        summary = graph.summary()
        rows.append({
            "model": model_name, "layer": layer, "dim": acts.dim, **summary,
            "mean purity": round(float(np.average(result.stats.purity, weights=result.stats.sizes)), 3),
        })
progress.done()
if rows:
    st.markdown("**Metrics**")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="compare_metrics")

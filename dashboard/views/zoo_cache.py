"""Zoo & cache: what runs offline, what is cached and how big, clearing entries."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

import zoo
from dashboard import services

st.header("Zoo & cache")

models_tab, data_tab, cache_tab = st.tabs(["Models", "Datasets", "Cache"])
with models_tab:
    rows = []
    for name in zoo.list_models():
        entry = zoo.get(name)
        rows.append({"model": name, "offline": "✓" if entry.offline else "hub", "modality": entry.modality,
                     "source": entry.source, "default layers": ", ".join(entry.default_layers),
                     "description": entry.description})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="zoo_models")
with data_tab:
    rows = []
    for name in zoo.list_datasets():
        entry = zoo.get_dataset(name)
        rows.append({"dataset": name, "offline": "✓" if entry.offline else "hub", "modality": entry.modality,
                     "needs a path": "yes" if entry.needs_path else "", "description": entry.description})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="zoo_datasets")

with cache_tab:
    store = services.get_store()
    entries = store.list_entries()
    size = store.size_bytes()
    st.markdown(f"Cache file `{html.escape(str(store.path))}` · **{size / 1e6:.1f} MB** on disk · "
                f"**{len(entries)}** entries")
    if not entries:
        st.info("The cache is empty: exploring a layer stores its activations and graphs here.")
    else:
        frame = pd.DataFrame([
            {"kind": e["kind"], "model": e["meta"].get("model", ""), "dataset": e["meta"].get("dataset", ""),
             "layer": e["layer"] or e["meta"].get("layer", ""), "rows": e["rows"], "dim": e["dim"],
             "MB": round((e["bytes"] or 0) / 1e6, 3), "created": e["created"], "key": e["key"]}
            for e in entries
        ])
        st.dataframe(frame, hide_index=True, width="stretch", key="cache_entries")
        kinds = sorted(frame["kind"].unique())
        c1, c2 = st.columns([2, 1])
        kind = c1.selectbox("Clear every entry of kind", kinds, key="cache_clear_kind")
        if c2.button("Clear", key="cache_clear_button", type="secondary"):
            removed = store.clear(kind)
            services.clear_memory()
            st.success(f"Removed {removed} {html.escape(kind)} entries.")
            st.rerun()
        if st.button("Clear the whole cache", key="cache_clear_all"):
            removed = store.clear()
            services.clear_memory()
            st.success(f"Removed {removed} entries.")
            st.rerun()

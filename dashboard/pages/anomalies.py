"""Anomalies: the ranked anomaly-candidate table (arrives with the anomaly issue)."""

from __future__ import annotations

import importlib.util

import streamlit as st

from dashboard.state import init_state

init_state()
st.header("Anomalies")
if importlib.util.find_spec("topoact.anomaly") is None:
    st.info(
        "The ranked table of anomaly candidates arrives with the anomaly analysis "
        "(`topoact.anomaly`), which is not part of this build yet. Until then: on **Explore**, "
        "colour nodes by *misclassified share* or *purity* and search a class to find odd nodes.",
        icon=":material/construction:",
    )
else:
    st.info("`topoact.anomaly` is installed; this page is wired to it once its API is final.")

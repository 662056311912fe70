"""Anomalies: the ranked anomaly-candidate table (arrives with the anomaly issue)."""

from __future__ import annotations

import streamlit as st

from dashboard.state import init_state

init_state()
st.header("Anomalies")
st.info(
    "The ranking of anomaly candidates (`topoact.anomaly`) is available from the command line: "
    "`python -m topoact anomalies --model digits_cnn --dataset digits --layer block2 --top 50 "
    "--csv candidates.csv` prints each sample's scores and the reasons in words. This page shows "
    "the same table once the anomaly issue is finished. Until then, on **Explore**, colour nodes "
    "by *misclassified share* or *purity* and search a class to find odd nodes.",
    icon=":material/construction:",
)

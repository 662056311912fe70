"""Session state: initialised once per session, with the offline default selected."""

from __future__ import annotations

import streamlit as st

from dashboard.services import DEFAULT_DATASET, DEFAULT_MODEL

DEFAULTS: dict[str, object] = {
    "model": DEFAULT_MODEL,
    "custom_model": "",
    "dataset": DEFAULT_DATASET,
    "layer": None,
    "sampling": None,
    "sample_size": None,
    "lens": "l2norm",
    "n_intervals": 30,
    "overlap": 0.3,
    "eps_mode": "hausdorff",
    "auto_intervals": False,
    "resamples": 0,
    "eps_value": 1.0,
    "min_samples": 5,
    "metric": "euclidean",
    "colour_by": "majority_label",
    "jaccard_threshold": 0.0,
    "search_class": "(none)",
    "featvis_icons": False,
    "selected_node": None,
    "projection_method": "pca",
}


def init_state() -> None:
    """Put every default into ``st.session_state`` the first time a session runs.

    On later runs, re-assign the values: Streamlit forgets the state of a widget that a
    page run does not draw, and the exploration's choices must survive a visit to
    another page (the Anomalies page reads them).
    """
    if st.session_state.get("_initialised"):
        for name in DEFAULTS:
            if name in st.session_state:
                st.session_state[name] = st.session_state[name]
        return
    for name, value in DEFAULTS.items():
        st.session_state.setdefault(name, value)
    st.session_state["_initialised"] = True


def select_node(node_id: str | None) -> None:
    """Make ``node_id`` the inspected node."""
    st.session_state["selected_node"] = node_id

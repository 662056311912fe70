"""Session state: initialised once per session (by ``app.py``), with the offline default selected.

The Mapper widgets start at the estimator's own defaults (``Mapper().get_params()``); only
what the UI adds (which model, which node, the colouring …) is written here.
"""

from __future__ import annotations

import streamlit as st

from dashboard.services import DEFAULT_DATASET, DEFAULT_MODEL
from topoact.mapper import Mapper

#: The Mapper parameters the Explore page has widgets for (the others keep Mapper's defaults).
MAPPER_FIELDS = ("lens", "n_intervals", "overlap", "eps", "min_samples", "metric")
#: The eps radio's option for a number (the others are Mapper's eps rules).
MANUAL_EPS = "manual"
#: The radius the "eps" box starts at when one switches to a manual eps (UI only).
MANUAL_EPS_START = 1.0
#: Where the intervals slider stands while Mapper's default is ``n_intervals="auto"`` (UI only).
INTERVALS_START = 30


def mapper_defaults() -> dict[str, object]:
    """The Mapper widgets' starting values, from ``Mapper().get_params()``.

    ``eps`` becomes the radio ``eps_mode`` (the default rule, or ``"manual"`` for a number)
    and the number box ``eps_value``; ``n_intervals="auto"`` the checkbox ``auto_intervals``.
    """
    params = Mapper().get_params()
    defaults = {name: params[name] for name in MAPPER_FIELDS if name not in ("eps", "n_intervals")}
    eps, n_intervals = params["eps"], params["n_intervals"]
    defaults["eps_mode"] = eps if isinstance(eps, str) else MANUAL_EPS
    defaults["eps_value"] = MANUAL_EPS_START if isinstance(eps, str) else float(eps)
    defaults["auto_intervals"] = isinstance(n_intervals, str)
    defaults["n_intervals"] = INTERVALS_START if isinstance(n_intervals, str) else n_intervals
    return defaults


def mapper_from_state(state) -> Mapper:
    """The unfitted Mapper the Mapper widgets in ``state`` describe."""
    manual = state["eps_mode"] == MANUAL_EPS
    return Mapper(lens=state["lens"], n_intervals="auto" if state["auto_intervals"] else int(state["n_intervals"]),
                  overlap=float(state["overlap"]), eps=float(state["eps_value"]) if manual else state["eps_mode"],
                  min_samples=int(state["min_samples"]), metric=state["metric"])


DEFAULTS: dict[str, object] = {
    "model": DEFAULT_MODEL,
    "custom_model": "",
    "dataset": DEFAULT_DATASET,
    "layer": None,
    "sampling": None,
    "sample_size": None,
    **mapper_defaults(),
    "resamples": 0,
    "colour_by": "majority_label",
    "jaccard_threshold": 0.0,
    "search_class": "(none)",
    "featvis_icons": False,
    "selected_node": None,
    "projection_method": "pca",
}


def init_state() -> None:
    """Put every default into ``st.session_state`` the first time a session runs.

    Called once per script run by ``app.py``, before the page runs. On later runs,
    re-assign the values: Streamlit forgets the state of a widget that a page run does
    not draw, and the exploration's choices must survive a visit to another page (the
    Anomalies page reads them).
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

"""topoact dashboard: ``make run`` (or ``streamlit run dashboard/app.py``).

Pages: Explore (the Mapper graph of a layer, node inspector, linked projection),
Anomalies, Compare, Robustness, Zoo & cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[1]
if str(_REPO_ROOT) not in sys.path:  # `streamlit run dashboard/app.py` only adds dashboard/
    sys.path.insert(0, str(_REPO_ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="topoact", page_icon="◉", layout="wide", initial_sidebar_state="expanded")

st.markdown(
    "<style>[data-testid='stMainBlockContainer']{padding-top:2.2rem;padding-bottom:1rem}"
    "[data-testid='stSidebarContent'] h3{margin-top:0.2rem}</style>",
    unsafe_allow_html=True,
)

from dashboard.state import init_state  # noqa: E402

init_state()  # once per run, for every page

_PAGES = Path(__file__).resolve().parent / "views"
navigation = st.navigation(
    [
        st.Page(_PAGES / "explore.py", title="Explore", icon=":material/hub:", default=True),
        st.Page(_PAGES / "anomalies.py", title="Anomalies", icon=":material/troubleshoot:"),
        st.Page(_PAGES / "compare.py", title="Compare", icon=":material/compare:"),
        st.Page(_PAGES / "robustness.py", title="Robustness", icon=":material/shield:"),
        st.Page(_PAGES / "zoo_cache.py", title="Zoo & cache", icon=":material/database:"),
    ]
)
navigation.run()

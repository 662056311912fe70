"""topoact dashboard: ``make run`` (``python -m dashboard.serve``; or ``streamlit run dashboard/app.py``
where topoact is installed, ``pip install -e .``).

Pages: Explore (the Mapper graph of a layer, node inspector, linked projection),
Anomalies, Compare, Robustness, Zoo & cache.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

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

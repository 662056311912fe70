"""The interactive Mapper graph: a Streamlit custom component with no build step.

A folder with ``index.html`` and a small script speaks Streamlit's component protocol
directly; vis-network's JavaScript and CSS are copied next to them from pyvis' bundled
copy (so nothing is fetched from a CDN). Clicking a node returns
``{"node": <node id>, "click": <counter>}`` to Python.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import streamlit.components.v1 as components

from topoact.viz import VIS_NETWORK_CSS, VIS_NETWORK_JS, GraphView, network_options

COMPONENT_DIR = Path(__file__).resolve().parent / "mapper_graph"


def _install_vis_network() -> None:
    """Copy pyvis' vis-network files into the component folder when missing or stale."""
    for source in (VIS_NETWORK_JS, VIS_NETWORK_CSS):
        target = COMPONENT_DIR / source.name
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, target)


_install_vis_network()
_mapper_graph = components.declare_component("mapper_graph", path=str(COMPONENT_DIR))


def mapper_graph(
    view: GraphView,
    *,
    selected: str | None = None,
    height: int = 560,
    key: str,
    on_change=None,
) -> dict[str, Any] | None:
    """Draw ``view`` and return the last click as ``{"node": id, "click": n}`` (or None).

    Parameters
    ----------
    view : GraphView
        From :func:`topoact.viz.build_graph_view`.
    selected : str, optional
        Node id to show as selected.
    height : int, default 560
        Height in pixels.
    key : str
        Widget key; the drawing keeps its camera across reruns while the view's
        ``structure_key`` stays the same.
    on_change : callable, optional
        Called (no arguments) when a node is clicked.
    """
    return _mapper_graph(
        nodes=view.nodes,
        edges=view.edges,
        options=network_options(len(view.nodes)),
        structure_key=view.structure_key,
        selected=selected,
        height=int(height),
        key=key,
        default=None,
        on_change=on_change,
        tab_index=0,
    )

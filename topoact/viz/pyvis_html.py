"""A graph view as a standalone, offline HTML page drawn by pyvis (vis-network inline).

pyvis' own ``add_edge`` scans every edge it holds (quadratic) and its physics lags
past about a thousand nodes, so the view's nodes and edges are handed to pyvis as
ready lists with precomputed positions and physics off. pyvis' template also links
Bootstrap from a CDN; those tags are removed so the page needs no network.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from topoact.viz.graph_view import GraphView

__all__ = ["VIS_NETWORK_JS", "VIS_NETWORK_CSS", "graph_view_html", "network_options"]


def _pyvis_lib() -> Path:
    import pyvis

    return Path(pyvis.__file__).parent / "templates" / "lib" / "vis-9.1.2"


#: vis-network's JavaScript and CSS as shipped inside pyvis (no CDN).
VIS_NETWORK_JS = _pyvis_lib() / "vis-network.min.js"
VIS_NETWORK_CSS = _pyvis_lib() / "vis-network.css"

_CDN_TAG = re.compile(
    r"<link[^>]*href=\"https?://[^\"]*\"[^>]*/?>|<script[^>]*src=\"https?://[^\"]*\"[^>]*>\s*</script>",
    re.IGNORECASE | re.DOTALL,
)


def network_options(n_nodes: int) -> dict:
    """vis-network options for a graph with precomputed positions.

    Physics stays off (positions come from :func:`topoact.viz.layout.graph_layout`);
    large graphs also hide edges while the view is dragged or zoomed.

    Parameters
    ----------
    n_nodes : int
        Number of nodes drawn.

    Returns
    -------
    dict
    """
    large = n_nodes > 500
    return {
        "physics": {"enabled": False},
        "nodes": {"shape": "dot", "borderWidth": 1, "font": {"size": 0}},
        "edges": {"smooth": False, "selectionWidth": 2},
        "interaction": {
            "hover": not large,
            "tooltipDelay": 120,
            "hideEdgesOnDrag": large,
            "hideEdgesOnZoom": large,
            "multiselect": False,
            "navigationButtons": False,
        },
        "layout": {"improvedLayout": False},
    }


def graph_view_html(view: GraphView, height: str = "640px", heading: str = "") -> str:
    """Render ``view`` as a self-contained HTML page with pyvis (vis-network inline).

    Parameters
    ----------
    view : GraphView
        From :func:`topoact.viz.graph_view.build_graph_view`.
    height : str, default "640px"
        CSS height of the drawing area.
    heading : str
        Title shown above the graph (escaped).

    Returns
    -------
    str
        The HTML page; it loads nothing from the network.
    """
    from pyvis.network import Network

    net = Network(height=height, width="100%", directed=False, cdn_resources="in_line", heading=html.escape(heading))
    nodes = []
    for node in view.nodes:
        item = {k: v for k, v in node.items() if k != "faded"}
        item.update(shape="dot", label=" ", physics=False)
        nodes.append(item)
    net.nodes = nodes
    net.node_ids = [node["id"] for node in nodes]
    net.node_map = {node["id"]: node for node in nodes}
    net.edges = [dict(edge) for edge in view.edges]
    net.options = network_options(len(nodes))
    page = net.generate_html()
    page = _CDN_TAG.sub("", page)
    return page


def view_to_json(view: GraphView) -> str:
    """The view's nodes, edges and legend as JSON (for export)."""
    return json.dumps({"nodes": view.nodes, "edges": view.edges, "legend": view.legend.__dict__})

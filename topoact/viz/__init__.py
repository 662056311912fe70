"""Drawing Mapper graphs: colour scales, a stable layout, graph views and pyvis HTML.

Nothing here imports streamlit; the dashboard calls these functions.

>>> from topoact.viz import graph_layout, node_stats, build_graph_view  # doctest: +SKIP
>>> view = build_graph_view(graph, node_stats(graph, labels), graph_layout(graph))  # doctest: +SKIP
"""

from topoact.viz.colours import (
    CATEGORICAL_PALETTE,
    MISSING_COLOUR,
    SEQUENTIAL_SCALES,
    Legend,
    categorical_colours,
    sequential_colours,
)
from topoact.viz.graph_view import (
    COLOUR_BY,
    FADED_COLOUR,
    GraphView,
    NodeStats,
    build_graph_view,
    class_name,
    node_stats,
    node_tooltip_html,
)
from topoact.viz.layout import graph_layout
from topoact.viz.projection import project_2d
from topoact.viz.pyvis_html import VIS_NETWORK_CSS, VIS_NETWORK_JS, graph_view_html, network_options

__all__ = [
    "CATEGORICAL_PALETTE", "MISSING_COLOUR", "SEQUENTIAL_SCALES", "Legend",
    "categorical_colours", "sequential_colours",
    "COLOUR_BY", "FADED_COLOUR", "GraphView", "NodeStats", "build_graph_view", "class_name",
    "node_stats", "node_tooltip_html", "graph_layout", "project_2d",
    "VIS_NETWORK_CSS", "VIS_NETWORK_JS", "graph_view_html", "network_options",
]

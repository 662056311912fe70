"""One place for "from the cache or computed": activations, Mapper graphs and anomaly scores.

Every surface (the command line, the dashboard, compare, robustness, featvis) gets its
inputs here, so all of them share cache entries:

* :class:`ExtractionSpec` names an extraction (model, dataset, layers, sampling ...) and
  gives its cache keys; :func:`get_or_extract` reads it from the store or extracts it;
* :func:`get_or_build_graph` / :func:`graph_cache_key` / :class:`CachedGraph`: the Mapper
  graph of an activation set, read or fitted;
* :func:`get_or_score`: the anomaly report of a graph, its per-sample scores read or computed.

Long work reports through one protocol, :class:`topoact.progress.Progress`.
"""

from topoact.workflow.activations import ActivationStore, get_or_extract
from topoact.workflow.graphs import GRAPH_SOURCE_FIELDS, CachedGraph, get_or_build_graph, graph_cache_key
from topoact.workflow.scores import ScoredGraph, get_or_score
from topoact.workflow.spec import ExtractionSpec, activation_key

__all__ = [
    "GRAPH_SOURCE_FIELDS",
    "ActivationStore",
    "CachedGraph",
    "ExtractionSpec",
    "ScoredGraph",
    "activation_key",
    "get_or_build_graph",
    "get_or_extract",
    "get_or_score",
    "graph_cache_key",
]

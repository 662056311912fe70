"""Cached Mapper graphs of cached activations: one key and one get-or-build for every surface.

The dashboard, ``python -m topoact mapper``, ``anomalies`` and ``compare`` all ask for
"the graph of these activations with these Mapper parameters"; they share cache entries
because they build the key here, from the activation set's identity (what produced the
vectors) and the estimator's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from topoact.cache import cache_key
from topoact.mapper.builder import Mapper
from topoact.mapper.graph import MapperGraph
from topoact.progress import Progress

if TYPE_CHECKING:
    from topoact.activations import ActivationSet
    from topoact.cache import Store

__all__ = ["CachedGraph", "graph_cache_key", "get_or_build_graph", "GRAPH_SOURCE_FIELDS"]

#: ``ActivationSet.meta`` fields that determine the vectors. ``predictions`` is left out
#: (the head does not change a layer's vectors); ``dropped_nonfinite`` stands for the
#: non-finite policy (a set that dropped nothing equals one that would have raised).
GRAPH_SOURCE_FIELDS: tuple[str, ...] = (
    "model", "weights_id", "dataset", "content_hash", "sampling", "max_positions", "seed", "limit",
    "layout", "dropped_nonfinite",
)
#: Estimator parameters that do not change the graph (the Ray engine builds the same one).
_IGNORED_PARAMS = ("n_jobs", "warm_start", "engine", "device")
_JSON_SCALARS = (str, int, float, bool, type(None))


@dataclass
class CachedGraph:
    """A graph with where it came from.

    Attributes
    ----------
    graph : MapperGraph
    key : str or None
        Its cache key (None when the activations or parameters cannot be keyed).
    from_cache : bool
        True when it was read from the store, False when it was fitted now.
    """

    graph: MapperGraph
    key: str | None
    from_cache: bool

    @property
    def eps_used(self) -> float | None:
        """The DBSCAN radius the graph was built with."""
        return self.graph.params.get("eps_used")


def _plain(value: Any) -> bool:
    if isinstance(value, _JSON_SCALARS):
        return True
    return isinstance(value, (list, tuple)) and all(isinstance(v, _JSON_SCALARS) for v in value)


def graph_cache_key(acts: ActivationSet, mapper: Mapper) -> str | None:
    """Cache key of the graph ``mapper`` builds on ``acts``.

    Parameters
    ----------
    acts : ActivationSet
        Activations of a zoo model on a zoo dataset (``meta`` names model, weights and
        dataset content, as extraction records them).
    mapper : Mapper
        The estimator; every parameter but ``n_jobs``, ``warm_start``, ``engine`` and ``device`` is
        part of the key.

    Returns
    -------
    str or None
        None when the set does not say where it came from (your own array) or a
        parameter is not plain data (a lens array, a clusterer object): such graphs are
        not cached.
    """
    meta = acts.meta or {}
    if not meta.get("model") or not meta.get("weights_id") or not meta.get("content_hash"):
        return None
    params = {k: v for k, v in mapper.get_params(deep=False).items() if k not in _IGNORED_PARAMS}
    if not all(_plain(v) for v in params.values()):
        return None
    source = {name: meta.get(name) for name in GRAPH_SOURCE_FIELDS}
    source["dropped_nonfinite"] = int(source["dropped_nonfinite"] or 0)
    return cache_key(kind="graph", layer=acts.layer, rows=acts.n_rows, dim=acts.dim, source=source,
                     mapper={k: list(v) if isinstance(v, tuple) else v for k, v in params.items()})


def get_or_build_graph(
    acts: ActivationSet,
    mapper: Mapper,
    store: Store | None,
    *,
    recompute: bool = False,
    progress: Progress | None = None,
) -> CachedGraph:
    """The Mapper graph of ``acts``: read from ``store`` when cached, else fitted and stored.

    Parameters
    ----------
    acts : ActivationSet
    mapper : Mapper
        Fitted on ``acts.vectors`` on a miss (a ``warm_start`` estimator refitted with
        another cover reuses its neighbour search).
    store : topoact.cache.Store or None
        None: always fit, never store.
    recompute : bool, default=False
        Fit even when a graph is cached (and replace it).
    progress : callable(fraction, message), optional
        Passed to :meth:`Mapper.fit`.

    Returns
    -------
    CachedGraph
        The graph as the estimator built it (no label data attached).

    Raises
    ------
    ValueError
        Parameters the estimator rejects (scikit-learn's ``InvalidParameterError``).
    """
    key = graph_cache_key(acts, mapper) if store is not None else None
    if key is not None and not recompute:
        text = store.get_graph(key)
        if text is not None:
            return CachedGraph(MapperGraph.from_json(text), key, True)
    graph = mapper.fit(acts.vectors, progress=progress).graph_
    if key is not None:
        meta = acts.meta or {}
        store.put_graph(key, graph.to_json(), {
            "layer": acts.layer, "model": meta.get("model"), "dataset": meta.get("dataset"),
            "weights_id": meta.get("weights_id"), "rows": acts.n_rows, "activations_key": meta.get("key"),
            **{k: v for k, v in graph.params.items() if _plain(v)}, "nodes": graph.n_nodes,
        })
    return CachedGraph(graph, key, False)

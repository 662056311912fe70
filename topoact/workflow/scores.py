"""Anomaly scores of a graph from the cache or computed: one get-or-score for the CLI and the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from topoact.anomaly.report import SCORES_KIND, AnomalyReport, anomaly_report, score_samples, scores_key
from topoact.progress import Progress, no_progress, scaled
from topoact.workflow.graphs import CachedGraph

if TYPE_CHECKING:
    from topoact.activations import ActivationSet
    from topoact.cache import Store
    from topoact.mapper import Mapper

__all__ = ["ScoredGraph", "get_or_score"]


@dataclass
class ScoredGraph:
    """An anomaly report with where its per-sample scores came from.

    Attributes
    ----------
    report : AnomalyReport
    key : str or None
        The cache key of the scores (None when the graph has none).
    from_cache : bool
        True when the per-sample scores (and stability column) were read from the store.
    """

    report: AnomalyReport
    key: str | None
    from_cache: bool


def get_or_score(
    acts: ActivationSet,
    built: CachedGraph,
    *,
    store: Store | None,
    k: int = 10,
    mapper: Mapper | None = None,
    sweep: Sequence[tuple[int, float]] = (),
    top: int = 50,
    recompute: bool = False,
    progress: Progress | None = None,
) -> ScoredGraph:
    """The anomaly report of a graph, its per-sample scores read from ``store`` when cached.

    On a miss the scores are computed (:func:`topoact.anomaly.score_samples`, and the
    stability ``sweep`` when given) and stored next to the graph, with ``graph_key`` in
    their meta (so deleting the graph deletes them). Node summaries and the structure
    report are derived from the scores each time (they are quick).

    Parameters
    ----------
    acts : ActivationSet
        The activations the graph was built on.
    built : CachedGraph
        The graph and its cache key (:func:`get_or_build_graph`).
    store : topoact.cache.Store or None
        None: always compute, never store.
    k : int, default=10
        Neighbours for k-NN disagreement and LOF.
    mapper : Mapper, optional
        The estimator that built the graph; needed for the sweep.
    sweep : sequence of (int, float), default=()
        ``(n_intervals, overlap)`` settings of the stability sweep
        (:func:`topoact.anomaly.default_sweep`); empty: no sweep.
    top : int, default=50
        A sample counts as a candidate in a sweep setting when ranked within ``top``.
    recompute : bool, default=False
        Compute even when scores are cached (and replace them).
    progress : callable(fraction, message), optional

    Returns
    -------
    ScoredGraph
    """
    sweep = [(int(n), float(o)) for n, o in sweep]
    key = scores_key(built.key, k=k, sweep=sweep, top=top) if store is not None and built.key else None
    table = None if key is None or recompute else store.get_table(SCORES_KIND, key)
    samples = None if table is None else table.to_pandas()
    cached = samples is not None
    if samples is None:
        (progress or no_progress)(0.1, "scoring samples (k-NN, LOF, nodes, model)")
        samples = score_samples(acts, built.graph, k=k)
    report = anomaly_report(acts, built.graph, k=k, samples=samples, mapper=mapper, top=top,
                            sweep=None if cached else sweep,
                            progress=scaled(progress, 0.2, 0.95))
    if key is not None and not cached:
        store.put_table(SCORES_KIND, key, report.samples.sort_index(), {
            "graph_key": built.key, "layer": acts.layer, "model": acts.meta.get("model"),
            "dataset": acts.meta.get("dataset"), "k": int(k)})
    return ScoredGraph(report, key, cached)

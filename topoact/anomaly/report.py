"""One call from activations and their Mapper graph to everything the anomaly views show.

The CLI (``python -m topoact anomalies``) and the dashboard's Anomalies page both call
:func:`anomaly_report`, so they rank the same samples for the same reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from topoact import TopoactError
from topoact.activations import ActivationSet
from topoact.anomaly.scores import aggregate_by_sample, anomaly_scores, node_anomaly_summary, rank_samples, stability
from topoact.anomaly.structure import Finding, structure_report
from topoact.mapper.graph import MapperGraph
from topoact.progress import Progress

#: Cache kind of the per-sample score tables (stored next to the graph they came from).
SCORES_KIND = "anomaly_scores"

#: Interval and overlap offsets of :func:`default_sweep` around the graph's own setting.
SWEEP_INTERVAL_STEPS: tuple[int, ...] = (-5, 0, 5)
SWEEP_OVERLAP_STEPS: tuple[float, ...] = (-0.1, 0.0, 0.1)


@dataclass
class AnomalyReport:
    """Ranked candidates, per-node summaries and the graph's structure.

    Attributes
    ----------
    samples : pandas.DataFrame
        One row per input sample (index ``sample``: the dataset row), most anomalous
        first: ``label``, each score, ``combined``, ``rank``, ``reasons`` and, when a
        sweep was run, ``stability`` (share of sweep settings where the sample was a top
        candidate).
    nodes : pandas.DataFrame
        :func:`~topoact.anomaly.node_anomaly_summary` of the graph from the sample-level
        scores, its candidates listed as dataset samples (``top_samples``).
    structure : list of Finding
        :func:`~topoact.anomaly.structure_report` of the graph.
    sweep : list of (int, float)
        The ``(n_intervals, overlap)`` settings of the stability sweep (empty: none).
    """

    samples: pd.DataFrame
    nodes: pd.DataFrame
    structure: list[Finding]
    sweep: list[tuple[int, float]] = field(default_factory=list)


def default_sweep(n_intervals: int, overlap: float) -> list[tuple[int, float]]:
    """Nine cover settings around ``(n_intervals, overlap)`` for the stability sweep.

    Intervals move by 5 (at least 2), overlap by 0.1 (kept in ``[0.05, 0.9]``);
    duplicates after clipping are dropped.
    """
    settings = []
    for di in SWEEP_INTERVAL_STEPS:
        for do in SWEEP_OVERLAP_STEPS:
            setting = (max(2, int(n_intervals) + di), round(min(0.9, max(0.05, float(overlap) + do)), 4))
            if setting not in settings:
                settings.append(setting)
    return settings


def scores_key(graph_key: str, *, k: int, sweep: Sequence[tuple[int, float]] = (), top: int | None = None) -> str:
    """Cache key of the per-sample scores of the graph cached under ``graph_key``.

    The sweep's ``top`` matters only with a sweep (it decides the stability column).
    """
    from topoact.cache import cache_key

    return cache_key(kind=SCORES_KIND, graph=graph_key, k=int(k), sweep=[[int(n), float(o)] for n, o in sweep],
                     top=int(top) if sweep else None)


def _model_outputs(acts: ActivationSet) -> dict:
    """Prediction, confidence and given-label probability when the model's classes are the labels'.

    An ImageNet model's prediction says nothing about a label of another dataset (a
    skimage photo's own class), so then no model-based score is used.
    """
    if not np.any(acts.prediction >= 0) or acts.meta.get("labels_are_head_classes") is False:
        return {}
    return {"prediction": acts.prediction, "confidence": acts.confidence,
            "label_probability": acts.label_probability}


def score_samples(acts: ActivationSet, graph: MapperGraph, *, k: int = 10) -> pd.DataFrame:
    """Per-sample anomaly scores of ``acts`` on its graph, one row per input sample.

    Parameters
    ----------
    acts : ActivationSet
        The activations ``graph`` was built on (row for row).
    graph : MapperGraph
    k : int, default=10
        Neighbours for k-NN disagreement and LOF.

    Returns
    -------
    pandas.DataFrame
        :func:`~topoact.anomaly.aggregate_by_sample` of the row scores, indexed by sample.

    Raises
    ------
    TopoactError
        The data has no labels, or the graph was not built on these activations.
    """
    if graph.n_points != acts.n_rows:
        raise TopoactError(f"the graph has {graph.n_points} points but the activations {acts.n_rows} rows; "
                           "build the graph on these activations")
    if not np.any(acts.label >= 0):
        raise TopoactError(f"{acts.meta.get('dataset', 'this dataset')} has no labels; "
                           "anomaly ranking needs labelled samples")
    rows = anomaly_scores(graph, acts.label, vectors=acts.vectors, k=k, **_model_outputs(acts))
    return aggregate_by_sample(rows, acts.sample_index)


def combined_per_row(acts: ActivationSet, samples: pd.DataFrame) -> np.ndarray:
    """Each activation row's combined score: its sample's (rows of one sample share it)."""
    return samples["combined"].reindex(acts.sample_index).to_numpy(dtype=np.float64)


def anomaly_report(
    acts: ActivationSet,
    graph: MapperGraph,
    *,
    k: int = 10,
    samples: pd.DataFrame | None = None,
    mapper=None,
    sweep: Sequence[tuple[int, float]] | None = None,
    top: int = 50,
    progress: Progress | None = None,
) -> AnomalyReport:
    """Rank the samples of a graph as anomaly candidates, summarise nodes and structure.

    Parameters
    ----------
    acts : ActivationSet
        The activations ``graph`` was built on.
    graph : MapperGraph
    k : int, default=10
        Neighbours for k-NN disagreement and LOF.
    samples : DataFrame, optional
        Per-sample scores already computed by :func:`score_samples` (e.g. from the cache).
    mapper : topoact.mapper.Mapper, optional
        The estimator that built ``graph``; needed for the stability sweep (cloned and
        refitted with ``warm_start=True``, so the neighbour search runs once).
    sweep : sequence of (int, float), optional
        ``(n_intervals, overlap)`` settings; with ``mapper`` and no ``sweep`` no sweep
        runs. See :func:`default_sweep`.
    top : int, default=50
        A sample counts as a candidate in a sweep setting when its rank is at most ``top``.
    progress : callable(fraction, message), optional
        Called over the sweep settings (:mod:`topoact.progress`).

    Returns
    -------
    AnomalyReport
    """
    if top < 1:
        raise TopoactError(f"top must be at least 1; got {top}")
    if samples is None:
        samples = score_samples(acts, graph, k=k)
    settings = list(sweep or [])
    if settings:
        if mapper is None:
            raise TopoactError("the stability sweep needs the Mapper estimator that built the graph")
        swept = stability(acts.vectors, acts.label, mapper, settings, top=top, sample_index=acts.sample_index,
                          k=k, progress=progress, **_model_outputs(acts))
        samples = samples.assign(stability=swept["stability"].reindex(samples.index).to_numpy())
    # node summaries from sample-level scores, mapped back onto the graph's rows
    row_scores = pd.DataFrame({"label": acts.label, "combined": combined_per_row(acts, samples)})
    nodes = node_anomaly_summary(graph, row_scores)
    # the candidates of a node as dataset samples, not activation rows
    nodes["top_rows"] = [list(dict.fromkeys(acts.sample_index[rows].tolist())) for rows in nodes["top_rows"]]
    nodes = nodes.rename(columns={"top_rows": "top_samples"})
    structure = structure_report(graph, acts.label, layer=acts.layer) if graph.n_nodes else []
    return AnomalyReport(rank_samples(samples), nodes, structure, settings)

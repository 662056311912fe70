"""Comparing runs: (model, weights, layer) graphs of one dataset, through the cache.

A *run* is one layer of one model (pretrained or its untrained control) on a dataset.
:func:`compare_runs` gets every run's activations (cached or extracted, one forward pass
per model) and graph (cached or fitted, :func:`topoact.workflow.get_or_build_graph`, the
cache the dashboard and the other commands share), and tabulates
:func:`~topoact.compare.graph_metrics` with each layer's relative depth and how much the
graph changed from the model's previous layer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from topoact import TopoactError
from topoact.activations import ActivationSet
from topoact.compare.distance import flow_distance, shape_distance
from topoact.compare.flow import MemberFlow, member_flow
from topoact.compare.metrics import COUNT_COLUMNS, METRIC_COLUMNS, graph_metrics
from topoact.mapper.builder import Mapper
from topoact.mapper.graph import MapperGraph
from topoact.progress import Progress
from topoact.workflow import ExtractionSpec, get_or_build_graph, get_or_extract

__all__ = [
    "RunSpec", "Run", "Comparison", "compare_runs", "comparison_table", "run_metrics", "relative_depth",
    "check_same_inputs",
]



@dataclass(frozen=True)
class RunSpec:
    """One (model, weights, layer) to compare.

    Parameters
    ----------
    model : str
        A zoo model name.
    layer : str
        Dotted module name.
    weights : {'pretrained', 'untrained'}
        ``'untrained'``: the seeded random control of the same architecture.
    """

    model: str
    layer: str
    weights: str = "pretrained"

    @property
    def series(self) -> str:
        """The model as a trajectory names it (``digits_cnn``, ``digits_cnn (untrained)``)."""
        return self.model if self.weights == "pretrained" else f"{self.model} ({self.weights})"

    @property
    def name(self) -> str:
        """``series · layer``."""
        return f"{self.series} · {self.layer}"


@dataclass
class Run:
    """A compared run: its activations, graph and numbers."""

    spec: RunSpec
    acts: ActivationSet
    graph: MapperGraph
    depth: float
    metrics: dict[str, float]
    graph_cached: bool
    seconds: float = 0.0


@dataclass
class Comparison:
    """Runs on the same inputs with the same Mapper parameters.

    Attributes
    ----------
    runs : list of Run
    table : pandas.DataFrame
        One row per run: ``model``, ``weights``, ``layer``, ``depth``, ``dim``, ``points``,
        the metrics of :data:`~topoact.compare.METRIC_COLUMNS`, ``flow_change`` (flow
        distance to the previous layer of the same model and weights; NaN for its first)
        and, when asked, ``shape_change``; ``cached`` (graph read from the cache).
    seconds : float
    class_names : list of str
    """

    runs: list[Run]
    table: pd.DataFrame
    seconds: float
    class_names: list[str] = field(default_factory=list)

    def flow(self, a: int | str, b: int | str, *, level: str = "node", min_share: float = 0.2) -> MemberFlow:
        """Member flow from run ``a`` to run ``b`` (positions or run names); see :func:`member_flow`."""
        first, second = self._run(a), self._run(b)
        return member_flow(first.graph, second.graph, labels=first.acts.label, level=level, min_share=min_share,
                           names=(first.spec.name, second.spec.name))

    def _run(self, which: int | str) -> Run:
        if isinstance(which, str):
            names = [run.spec.name for run in self.runs]
            if which not in names:
                raise TopoactError(f"no run {which!r}; runs: {', '.join(names)}")
            return self.runs[names.index(which)]
        return self.runs[which]


def relative_depth(model: Any, layer: str) -> float:
    """How far into the network a layer is: 0 = the input, 1 = the last layer.

    The share of the model's leaf modules (convolutions, norms, activations, pools,
    linear layers ...; in registration order, which is the forward order of the zoo's
    models) that have run once ``layer`` has: its own leaves and every leaf before them.

    Parameters
    ----------
    model : zoo.LoadedModel
    layer : str
    """
    order = [name for name, _ in model.module.named_modules() if name]
    if layer not in order:
        raise TopoactError(f"unknown layer {layer!r} of {model.entry.name}")
    leaves = {name for name, module in model.module.named_modules() if name and next(module.children(), None) is None}
    last = max(i for i, name in enumerate(order) if name == layer or name.startswith(layer + "."))
    return sum(1 for name in order[: last + 1] if name in leaves) / len(leaves)


def check_same_inputs(acts: Sequence[ActivationSet]) -> None:
    """Raise unless every activation set has the same rows (row i is the same input)."""
    first = acts[0]
    for other in acts[1:]:
        if other.n_rows != first.n_rows or not np.array_equal(other.sample_index, first.sample_index):
            raise TopoactError(
                f"{first.meta.get('model')}:{first.layer} and {other.meta.get('model')}:{other.layer} hold different "
                f"inputs ({first.n_rows} and {other.n_rows} rows); compare them with the same dataset, sampling, "
                "limit and seed (and a sampling that gives one vector per input)"
            )


def compare_runs(
    specs: Sequence[RunSpec],
    dataset: str,
    *,
    mapper: Mapper | None = None,
    store=None,
    sampling: str | None = None,
    max_positions: int = 16,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    device: str = "cpu",
    dataset_path: str | None = None,
    shape: bool = False,
    progress: Progress | None = None,
) -> Comparison:
    """Activations, graphs and metrics of several runs on one dataset, through the cache.

    Parameters
    ----------
    specs : sequence of RunSpec
    dataset : str
        A zoo dataset name.
    mapper : Mapper, optional
        The Mapper parameters of every graph (default ``Mapper()``); cloned per run.
    store : topoact.cache.Store or None
        Activations and graphs are read from it and written to it; None: compute all.
    sampling : str, optional
        Default: ``random_position`` for images, ``random_token`` for text.
    max_positions, limit, seed, batch_size, device, dataset_path
        As for :class:`topoact.workflow.ExtractionSpec`.
    shape : bool, default=False
        Add ``shape_change`` (:func:`~topoact.compare.shape_distance` to the previous layer;
        about a second per pair of a few hundred nodes).
    progress : callable(fraction, message), optional

    Returns
    -------
    Comparison
    """
    import zoo
    from sklearn.base import clone

    if not specs:
        raise TopoactError("nothing to compare: give at least one model and layer")
    report = progress or (lambda fraction, message: None)
    start = time.perf_counter()
    mapper = mapper if mapper is not None else Mapper()
    modality = zoo.get_dataset(dataset).modality
    for model_name in dict.fromkeys(spec.model for spec in specs):  # before anything is loaded
        if zoo.get(model_name).modality != modality:
            raise TopoactError(f"{model_name} takes {zoo.get(model_name).modality} input; {dataset} is {modality}")
    data = zoo.load_dataset(dataset) if dataset_path is None else zoo.load_dataset(dataset, path=dataset_path)
    groups: dict[tuple[str, str], list[str]] = {}
    for spec in specs:
        groups.setdefault((spec.model, spec.weights), [])
        if spec.layer not in groups[(spec.model, spec.weights)]:
            groups[(spec.model, spec.weights)].append(spec.layer)

    acts_of: dict[RunSpec, ActivationSet] = {}
    depth_of: dict[RunSpec, float] = {}
    for g, ((model_name, weights), layers) in enumerate(groups.items()):
        report(0.6 * g / len(groups), f"activations of {model_name} ({weights})")
        model = zoo.load_model(model_name, weights=weights, device=device)
        model.check_layers(layers)
        sets = get_or_extract(ExtractionSpec(model, data, tuple(layers), limit=limit, sampling=sampling,
                                             max_positions=max_positions, seed=seed, batch_size=batch_size,
                                             device=device), store=store)
        for layer in layers:
            spec = RunSpec(model_name, layer, weights)
            acts_of[spec] = sets[layer]
            depth_of[spec] = relative_depth(model, layer)
    check_same_inputs([acts_of[spec] for spec in specs])

    runs = []
    for r, spec in enumerate(specs):
        report(0.6 + 0.35 * r / len(specs), f"graph of {spec.name}")
        tick = time.perf_counter()
        acts = acts_of[spec]
        try:
            built = get_or_build_graph(acts, clone(mapper), store)
        except ValueError as exc:
            raise TopoactError(str(exc).splitlines()[0]) from None
        metrics = run_metrics(acts, built.graph, built.key, store)
        runs.append(Run(spec, acts, built.graph, depth_of[spec], metrics, built.from_cache,
                        time.perf_counter() - tick))
    report(0.95, "changes between layers")
    table = comparison_table(runs, shape=shape)
    report(1.0, "done")
    return Comparison(runs=runs, table=table, seconds=time.perf_counter() - start, class_names=list(data.class_names))


#: Stored metric rows of a graph (a change of the metrics' definitions changes the key).
METRICS_KIND = "graph_metrics"


def run_metrics(acts: ActivationSet, graph: MapperGraph, graph_key: str | None, store=None) -> dict[str, float]:
    """:func:`graph_metrics` of a run's graph (labels, vectors and predictions from ``acts``).

    With a ``store`` and the graph's cache key the row is read from the cache when stored
    there, else computed and stored next to the graph.
    """
    from topoact.cache import cache_key

    key = None if store is None or graph_key is None else cache_key(
        kind=METRICS_KIND, graph=graph_key, columns=list(METRIC_COLUMNS))
    if key is not None:
        stored = store.get_table(METRICS_KIND, key)
        if stored is not None:
            row = stored.to_pandas().iloc[0].to_dict()
            return {k: int(v) if k in COUNT_COLUMNS and np.isfinite(v) else float(v) for k, v in row.items()}
    has_head = bool(np.any(acts.prediction >= 0))
    metrics = graph_metrics(graph, acts.label, vectors=acts.vectors,
                            prediction=acts.prediction if has_head else None,
                            confidence=acts.confidence if has_head else None)
    if key is not None:
        store.put_table(METRICS_KIND, key, pd.DataFrame([metrics]),
                        {"layer": acts.layer, "model": acts.meta.get("model"), "dataset": acts.meta.get("dataset"),
                         "graph_key": graph_key})
    return metrics


def comparison_table(runs: Sequence[Run], *, shape: bool = False) -> pd.DataFrame:
    """One row per run (in the order given): what it is, its depth and metrics, and how much
    its graph changed from the previous layer of the same model and weights (by depth).

    See :class:`Comparison` for the columns.
    """
    runs = list(runs)
    rows = []
    previous: dict[str, Run] = {}
    for run in sorted(runs, key=lambda r: (r.spec.series, r.depth)):
        before = previous.get(run.spec.series)
        row = {
            "model": run.spec.model, "weights": run.spec.weights, "layer": run.spec.layer,
            "depth": round(run.depth, 4), "dim": run.acts.dim, "points": run.acts.n_rows,
            **{key: run.metrics[key] for key in METRIC_COLUMNS},
            "flow_change": flow_distance(member_flow(before.graph, run.graph)) if before else np.nan,
        }
        if shape:
            row["shape_change"] = shape_distance(before.graph, run.graph) if before and run.graph.n_nodes \
                and before.graph.n_nodes else np.nan
        row["cached"] = run.graph_cached
        rows.append((runs.index(run), row))
        previous[run.spec.series] = run
    return pd.DataFrame([row for _, row in sorted(rows, key=lambda p: p[0])])

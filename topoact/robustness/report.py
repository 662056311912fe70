"""The robustness study of one model, dataset and layer, with every step cached.

Steps: perturbed sets (``zoo.perturbed``, cached as files), activations of the clean and
of every perturbed set (``get_or_extract``, cached in the store), Mapper graphs (cached in
the store), then the cheap tables of :mod:`topoact.robustness.analysis`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from topoact import TopoactError
from topoact.activations import ActivationSet
from topoact.anomaly.scores import ANOMALY_EPS
from topoact.mapper.graph import MapperGraph
from topoact.progress import Progress, no_progress
from topoact.robustness.analysis import (
    GraphMetrics,
    attack_mix,
    combine_activations,
    default_small_strength,
    flip_strength,
    point_classes,
    strength_sweep,
    vulnerability_prediction,
    vulnerability_table,
)
from topoact.workflow import ExtractionSpec, get_or_build_graph, get_or_extract


#: Strengths used when none are given (fractions of the pixel range: 5, 12, 25 and 51 grey levels).
DEFAULT_STRENGTHS: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2)
#: The comparison metrics (topoact.compare) the sweep tables and charts show.
SWEEP_COLUMNS: tuple[str, ...] = ("nodes", "components", "loops", "weighted_purity", "point_purity", "label_ami",
                                  "noise_fraction")


@dataclass(frozen=True)
class RobustnessConfig:
    """What one robustness study looks at.

    Parameters
    ----------
    model, dataset : str
        Zoo names (an image classifier and image data).
    layer : str, optional
        Default: the model's last default layer (the representation the head reads).
    attack : {'fgsm', 'pgd'}
        The attack whose strengths define vulnerability and the sweep.
    strengths : tuple of float
        L-inf radii (fractions of the pixel range), each in ``[1/255, 1]``.
    control : {'noise'} or None
        Random perturbations of the same sizes, measured alongside.
    combined_strength : float, optional
        Strength of the clean + attacked graph (default: the middle strength).
    small_strength : float, optional
        "Flips at small strength" threshold (default: the smallest strength at which 10 %
        of the samples have flipped).
    seed, limit : int, int or None
        Seeded subset of ``limit`` samples (all when None); the seed also seeds the attacks.
    sampling, max_positions
        How activation vectors are taken (``gap``: one pooled vector per sample).
    n_intervals, overlap, min_samples
        Mapper: L2-norm lens, uniform cover, DBSCAN with eps ``auto``.
    """

    model: str
    dataset: str
    layer: str | None = None
    attack: str = "pgd"
    strengths: tuple[float, ...] = DEFAULT_STRENGTHS
    control: str | None = "noise"
    combined_strength: float | None = None
    small_strength: float | None = None
    seed: int = 0
    limit: int | None = None
    sampling: str = "gap"
    max_positions: int = 16
    n_intervals: int = 15
    overlap: float = 0.4
    min_samples: int = 5

    def __post_init__(self) -> None:
        from zoo.perturbed import ATTACKS, check_strength

        if self.attack not in ATTACKS or self.attack == "noise":
            raise TopoactError(f"unknown attack {self.attack!r}; valid attacks: "
                               f"{', '.join(a for a in ATTACKS if a != 'noise')}")
        if self.control not in (None, "noise"):
            raise TopoactError(f"the control is 'noise' or none; got {self.control!r}")
        if not self.strengths:
            raise TopoactError("give at least one strength")
        strengths = tuple(sorted({check_strength(eps) for eps in self.strengths}))
        object.__setattr__(self, "strengths", strengths)
        for name in ("combined_strength", "small_strength"):
            value = getattr(self, name)
            if value is not None and check_strength(value) not in strengths:
                raise TopoactError(f"{name.replace('_', ' ')} {value:g} is not one of the strengths "
                                   f"({', '.join(f'{e:g}' for e in strengths)})")
        if self.n_intervals < 1 or not 0.0 <= self.overlap < 1.0 or self.min_samples < 1:
            raise TopoactError("intervals and min_samples must be at least 1 and overlap in [0, 1)")

    @property
    def mapper_params(self) -> dict[str, Any]:
        """The Mapper's parameters (one place, shared by every graph of the study)."""
        return {"lens": "l2norm", "n_intervals": int(self.n_intervals), "overlap": float(self.overlap),
                "eps": ANOMALY_EPS, "min_samples": int(self.min_samples), "random_state": int(self.seed)}

    @property
    def middle_strength(self) -> float:
        """The combined graph's strength."""
        if self.combined_strength is not None:
            return float(self.combined_strength)
        return self.strengths[len(self.strengths) // 2]


@dataclass
class RobustnessReport:
    """Everything the study found (see :func:`robustness_report`).

    Attributes
    ----------
    config : RobustnessConfig
    layer : str
    accuracy : DataFrame
        One row per (attack, strength), clean first: ``dataset``, ``levels``, ``accuracy``
        (None when labels are not model classes), ``flipped`` (share whose prediction changed).
    vulnerability : DataFrame
        Per sample (:func:`~topoact.robustness.analysis.vulnerability_table`).
    small_strength : float
    prediction : DataFrame
        Spearman / AUROC of each clean-time score for vulnerability, margin baseline included.
    sweep : DataFrame
        One row per (attack, strength): metrics of the attacked graph (strength 0 = clean).
    mix : DataFrame
        Per node of the clean + attacked graph (:func:`~topoact.robustness.analysis.attack_mix`).
    clean_graph, combined_graph : MapperGraph
    combined : ActivationSet
        Clean then attacked rows of the combined graph.
    is_attacked : ndarray of bool
    datasets : dict
        ``(attack, strength) -> PerturbedDataset`` and ``("clean", 0.0) -> Dataset``.
    """

    config: RobustnessConfig
    layer: str
    accuracy: pd.DataFrame
    vulnerability: pd.DataFrame
    small_strength: float
    prediction: pd.DataFrame | None
    sweep: pd.DataFrame
    mix: pd.DataFrame
    clean_graph: MapperGraph
    combined_graph: MapperGraph
    combined: ActivationSet
    is_attacked: np.ndarray
    datasets: dict = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a JSON-able dict."""
        head = {"model": self.config.model, "dataset": self.config.dataset, "layer": self.layer,
                "samples": int(len(self.vulnerability)), "attack": self.config.attack,
                "small_strength": self.small_strength}
        if self.prediction is not None:
            head.update({f"auroc_{name}": round(float(v), 4) for name, v in self.prediction["auroc"].items()})
        return head


def robustness_report(
    config: RobustnessConfig,
    *,
    store: Any = None,
    metrics: GraphMetrics | None = None,
    model: Any = None,
    progress: Progress | None = None,
) -> RobustnessReport:
    """Run (or read from the caches) the robustness study described by ``config``.

    Parameters
    ----------
    config : RobustnessConfig
    store : topoact.cache.Store, optional
        Caches activations and graphs; None computes everything (perturbed sets are
        always kept in ``cache/perturbed``).
    metrics : callable, optional
        Per-graph metrics of the strength sweep, ``metrics(graph, labels) -> dict``;
        default :func:`topoact.compare.graph_metrics`.
    model : LoadedModel, optional
        The loaded ``config.model`` (loaded here when not given).
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    RobustnessReport

    Raises
    ------
    TopoactError, zoo.ZooError
        A text model or data, a strength out of range, an unknown layer, too few samples.
    """
    import zoo
    from zoo.datasets import seeded_subset
    from zoo.perturbed import check_attackable, grey_levels, perturb

    report: Progress = progress or no_progress
    check_attackable(zoo.get(config.model), zoo.get_dataset(config.dataset))  # before loading anything
    if model is None:
        report(0.0, f"loading {config.model}")
        model = zoo.load_model(config.model)
    base = zoo.load_dataset(config.dataset)
    check_attackable(model, base)
    layer = config.layer or model.entry.default_layers[-1]
    model.check_layers([layer])
    attacks = [config.attack] + ([config.control] if config.control else [])
    jobs = [(attack, eps) for attack in attacks for eps in config.strengths]

    datasets: dict[tuple[str, float], Any] = {}
    for i, (attack, eps) in enumerate(jobs):
        start, end = 0.02 + 0.5 * i / len(jobs), 0.02 + 0.5 * (i + 1) / len(jobs)
        datasets[(attack, eps)] = perturb(
            model, base, attack, eps, seed=config.seed, limit=config.limit,
            progress=lambda f, m, s=start, e=end: report(s + (e - s) * f, m),
        )
    first = datasets[jobs[0]]
    clean_data = seeded_subset(base, config.limit, config.seed)
    datasets[("clean", 0.0)] = clean_data

    acts: dict[tuple[str, float], ActivationSet] = {}
    names = [("clean", 0.0)] + jobs
    for i, job in enumerate(names):
        report(0.52 + 0.3 * i / len(names), f"activations of {datasets[job].name} at {layer}")
        acts[job] = _activations(model, datasets[job], layer, config, store)

    graphs: dict[tuple[str, float], MapperGraph] = {}
    for i, job in enumerate(names):
        report(0.82 + 0.12 * i / len(names), f"Mapper graph of {datasets[job].name}")
        graphs[job] = _graph(acts[job], config, store)

    report(0.95, "clean + attacked graph")
    middle = config.middle_strength
    clean_acts = acts[("clean", 0.0)]
    combined, is_attacked = combine_activations(clean_acts, acts[(config.attack, middle)])
    combined_graph = _graph(combined, config, store)
    mix = attack_mix(combined_graph, is_attacked, point_classes(combined))

    report(0.98, "vulnerability")
    flips = flip_strength(first.clean_prediction, {eps: datasets[(config.attack, eps)].prediction
                                                   for eps in config.strengths})
    vulnerability = vulnerability_table(graphs[("clean", 0.0)], clean_acts, flips, first.clean_margin,
                                        ids=clean_data.ids)
    small = config.small_strength or default_small_strength(flips, config.strengths)
    try:
        prediction = vulnerability_prediction(vulnerability, small)
    except TopoactError:
        prediction = None  # every sample (or none) flips at that strength: nothing to rank

    rows = [{"attack": "clean", "strength": 0.0, "levels": 0, "dataset": clean_data.name,
             "accuracy": first.accuracy(clean=True), "flipped": 0.0, "mean_margin": float(first.clean_margin.mean())}]
    for attack, eps in jobs:
        data = datasets[(attack, eps)]
        rows.append({"attack": attack, "strength": eps, "levels": grey_levels(eps), "dataset": data.name,
                     "accuracy": data.accuracy(), "flipped": float(data.flipped.mean()),
                     "mean_margin": float(data.margin.mean())})
    accuracy = pd.DataFrame(rows).set_index(["attack", "strength"])

    if metrics is None:
        from topoact.compare import graph_metrics as metrics
    sweeps = []
    for attack in attacks:
        series = {0.0: graphs[("clean", 0.0)]} | {eps: graphs[(attack, eps)] for eps in config.strengths}
        labels = {eps: point_classes(acts[("clean", 0.0) if eps == 0.0 else (attack, eps)]) for eps in series}
        sweeps.append(strength_sweep(series, labels, metrics).assign(attack=attack))
    sweep = pd.concat(sweeps).reset_index().set_index(["attack", "strength"])
    report(1.0, "done")
    return RobustnessReport(
        config=config, layer=layer, accuracy=accuracy, vulnerability=vulnerability, small_strength=float(small),
        prediction=prediction, sweep=sweep, mix=mix, clean_graph=graphs[("clean", 0.0)],
        combined_graph=combined_graph, combined=combined, is_attacked=is_attacked, datasets=datasets,
    )


def _activations(model, dataset, layer: str, config: RobustnessConfig, store) -> ActivationSet:
    """Activations of one layer on a whole (already subset) dataset, through the cache."""
    spec = ExtractionSpec(model, dataset, (layer,), sampling=config.sampling, max_positions=config.max_positions,
                          seed=config.seed)
    return get_or_extract(spec, store=store)[layer]


def _graph(acts: ActivationSet, config: RobustnessConfig, store) -> MapperGraph:
    """The Mapper graph of ``acts`` through the shared graph cache."""
    from topoact.mapper import Mapper

    try:
        return get_or_build_graph(acts, Mapper(**config.mapper_params), store).graph
    except ValueError as exc:
        raise TopoactError(f"Mapper on {acts.n_rows} vectors of {acts.layer}: {str(exc).splitlines()[0]}") from None


def combined_stats(result: RobustnessReport):
    """Node stats of the clean + attacked graph: attacked share, and per node in the tooltip how
    many clean samples sit with attacked samples of another class."""
    from topoact.viz import node_stats

    graph, combined = result.combined_graph, result.combined
    stats = node_stats(graph, point_classes(combined), combined.prediction, combined.confidence,
                       attacked=result.is_attacked)
    mixed = result.mix.reindex(graph.node_ids)["clean_with_foreign_attacked"]
    stats.notes = [f"clean with attacked of another class: {int(v)}" for v in mixed]
    return stats


def combined_view(result: RobustnessReport, colour_by: str = "attacked", stats=None, positions=None,
                  structure_key: str = ""):
    """The drawable view of the clean + attacked graph (default colour: share of attacked members)."""
    from topoact.viz import build_graph_view, graph_layout

    graph = result.combined_graph
    stats = combined_stats(result) if stats is None else stats
    positions = graph_layout(graph) if positions is None else positions
    class_names = list(result.datasets[("clean", 0.0)].class_names)
    return build_graph_view(graph, stats, positions, colour_by=colour_by, class_names=class_names,
                            structure_key=structure_key)

"""Everything the pages compute, cached: models, datasets, activations, graphs, views.

Pages call these functions and only read widgets. Caching layers:

* ``st.cache_resource`` — the DuckDB store handle, loaded models and datasets, and
  the in-process memo of activation sets and fitted Mapper estimators (they are
  large arrays, shared by every session, never copied).
* the DuckDB store — activations (through ``get_or_extract``) and graph JSON, so a
  new server process starts from the cache.
* ``st.cache_data`` — small derived data (2-D projections).

Feature visualizations and exemplars (``topoact.featvis``) are stored in the DuckDB
cache as PNG bytes; the icons of a graph's rendered nodes are kept in memory until a
node is rendered or the cache is cleared.

A Mapper estimator is kept per activation set with ``warm_start=True``, so changing
only the cover (intervals, overlap) does not redo the neighbour search.

Extraction and Mapper clustering run on the engine ``$TOPOACT_ENGINE`` names: ``local``
(the default) or ``ray`` (a Ray cluster: ``$RAY_ADDRESS``, else a local one started by
the server); the page's progress bar follows the blocks and cover elements as the
cluster finishes them.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st
from sklearn.base import clone

import zoo
from topoact import featvis
from topoact.activations import ActivationSet
from topoact.anomaly import ANOMALY_EPS
from topoact.cache import Store, default_cache_path
from topoact.compare import Run, RunSpec, relative_depth, run_metrics
from topoact.distributed import RayEngine, resolve_engine
from topoact.extract import IMAGE_SAMPLINGS, TEXT_SAMPLINGS
from topoact.mapper import Mapper, MapperGraph
from topoact.progress import Progress
from topoact.viz import NodeStats, graph_layout, node_stats, project_2d
from topoact.workflow import CachedGraph, ExtractionSpec, get_or_build_graph, get_or_extract, get_or_score, graph_cache_key


#: The offline default the Explore page opens with.
DEFAULT_MODEL = "digits_cnn"
DEFAULT_DATASET = "digits"
#: The layer Explore opens on per model, where the classes already separate (digits_cnn:
#: block3 keeps loops and branches with mean node purity ~0.9; block1 is ~0.3).
DEFAULT_LAYERS = {"digits_cnn": "block3"}
#: Sample sizes offered (None = the whole dataset).
DEFAULT_SAMPLE_SIZE = 2000
MAX_PROJECTED_POINTS = 4000
#: Uploads: accepted file types and the largest size in MB.
UPLOAD_TYPES = ("txt", "csv", "tsv")
UPLOAD_MAX_MB = 5


@dataclass
class GraphResult:
    """A fitted graph with what every view of it needs."""

    key: str
    graph: MapperGraph
    positions: np.ndarray
    stats: NodeStats
    eps_used: float | None
    from_cache: bool


# ----------------------------------------------------------------------- resources
@st.cache_resource(show_spinner=False)
def _store_for(path: str) -> Store:
    return Store(path)


def engine() -> str | RayEngine:
    """The engine extraction and Mapper run on: ``$TOPOACT_ENGINE`` (``local`` or ``ray``).

    Raises
    ------
    ValueError
        For another name (the message lists the valid ones).
    """
    return resolve_engine(os.environ.get("TOPOACT_ENGINE", "local")) or "local"


def get_store() -> Store:
    """The DuckDB store at the current default path (``$TOPOACT_CACHE_DIR``)."""
    return _store_for(str(default_cache_path()))


@st.cache_resource(show_spinner=False, max_entries=4)
def load_model(name: str, weights: str = "pretrained"):
    """A zoo model, loaded once per server (raises ``zoo.ZooError`` for bad names)."""
    return zoo.load_model(name, weights=weights)


@st.cache_resource(show_spinner=False, max_entries=8)
def load_dataset(name: str, path: str | None = None):
    """A whole zoo dataset, loaded once per server."""
    return zoo.load_dataset(name) if path is None else zoo.load_dataset(name, path=path)


def samplings_for(modality: str) -> tuple[str, ...]:
    """Samplers valid for a modality, the default first."""
    return TEXT_SAMPLINGS if modality == "text" else IMAGE_SAMPLINGS


class _Memo:
    """A small thread-safe LRU shared by all sessions."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.RLock()

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


@st.cache_resource(show_spinner=False)
def _memos() -> dict[str, _Memo]:
    return {"activations": _Memo(8), "mappers": _Memo(8), "graphs": _Memo(32), "anomalies": _Memo(16),
            "icons": _Memo(8), "robustness": _Memo(4), "confidence": _Memo(16),
            "fit_lock": threading.Lock()}


def clear_memory() -> None:
    """Forget in-process activations and graphs (after the cache was cleared)."""
    _memos.clear()


# ----------------------------------------------------------------------- activations
def loaded_spec(spec: ExtractionSpec) -> ExtractionSpec:
    """``spec`` (zoo names, one layer) with the server's loaded model and dataset."""
    return spec.replace(model=load_model(spec.model, spec.weights), dataset=load_dataset(spec.dataset, spec.dataset_path))


def activation_set_key(spec: ExtractionSpec) -> str:
    """The cache key of the activation set (the same one ``get_or_extract`` uses)."""
    return loaded_spec(spec).cache_key(spec.layer)


def get_activations(spec: ExtractionSpec, progress: Progress | None = None) -> tuple[str, ActivationSet]:
    """Activations of one layer: from memory, else the DuckDB cache, else extracted.

    Parameters
    ----------
    spec : ExtractionSpec
        Zoo model and dataset names and one layer.

    Returns
    -------
    (key, ActivationSet)
    """
    report = progress or (lambda fraction, message: None)
    loaded = loaded_spec(spec)
    key = loaded.cache_key(spec.layer)
    memo = _memos()["activations"]
    hit = memo.get(key)
    if hit is not None:
        return key, hit
    report(0.0, f"reading {spec.layer} activations from the cache")
    acts = get_or_extract(loaded, store=get_store(), progress=report, engine=engine())[spec.layer]
    memo.put(key, acts)
    return key, acts


# ----------------------------------------------------------------------- graphs
#: Estimator parameters the dashboard does not take from the page's Mapper (set per server).
_SERVER_PARAMS = ("warm_start", "engine")


def mapper_for(activations_key: str, mapper: Mapper) -> Mapper:
    """The warm-start estimator kept for an activation set, set to ``mapper``'s parameters."""
    memos = _memos()
    estimator = memos["mappers"].get(activations_key)
    if estimator is None:
        estimator = Mapper(warm_start=True)
        memos["mappers"].put(activations_key, estimator)
    params = {k: v for k, v in mapper.get_params(deep=False).items() if k not in _SERVER_PARAMS}
    return estimator.set_params(**params, engine=engine())


def graph_key(acts: ActivationSet, mapper: Mapper) -> str:
    """Cache key of a Mapper graph of an activation set (the one every surface uses)."""
    key = graph_cache_key(acts, mapper)
    if key is None:
        raise ValueError(f"the {acts.layer} activations do not say which model and data made them")
    return key


def get_graph(activations_key: str, acts: ActivationSet, mapper: Mapper, progress: Progress | None = None) -> GraphResult:
    """The Mapper graph of ``acts``: from memory, else the DuckDB cache, else fitted.

    The DuckDB part is :func:`topoact.workflow.get_or_build_graph`, shared with the command
    line. Raises ``ValueError`` for parameters the Mapper rejects.
    """
    report = progress or (lambda fraction, message: None)
    key = graph_key(acts, mapper)
    memos = _memos()
    hit = memos["graphs"].get(key)
    if hit is not None:
        return hit
    with memos["fit_lock"]:
        report(0.0, "reading the graph from the cache")
        built = get_or_build_graph(acts, mapper_for(activations_key, mapper), get_store(),
                                   progress=lambda f, m: report(f, f"Mapper: {m}"))
    graph = built.graph
    report(0.95, "laying out the graph")
    result = GraphResult(
        key=key,
        graph=graph,
        positions=graph_layout(graph),
        stats=node_stats(graph, acts.label, acts.prediction, acts.confidence),
        eps_used=built.eps_used,
        from_cache=built.from_cache,
    )
    memos["graphs"].put(key, result)
    return result


def get_confidence(activations_key: str, acts: ActivationSet, result: GraphResult, mapper: Mapper,
                   n_resamples: int, progress: Progress | None = None) -> list:
    """Components, loops and flares of the graph, each with its bootstrap confidence.

    Refits the graph's estimator on the activations (the graph may have come from the
    cache) and rebuilds it on ``n_resamples`` seeded resamples
    (:func:`topoact.mapper.bootstrap_graphs`); memoised per graph and count.

    Returns
    -------
    list of topoact.anomaly.Finding
        Without hubs; each with ``confidence`` and a sentence "…, seen in 93 % of 50 resamples".
    """
    from topoact.anomaly import structure_report
    from topoact.mapper import bootstrap_graphs

    memos = _memos()
    key = (result.key, int(n_resamples))
    hit = memos["confidence"].get(key)
    if hit is not None:
        return hit
    report = progress or (lambda fraction, message: None)
    with memos["fit_lock"]:
        report(0.0, "refitting the graph for the bootstrap")
        estimator = clone(mapper_for(activations_key, mapper)).set_params(engine="local", warm_start=False)
        estimator.fit(acts.vectors)
        resamples = bootstrap_graphs(estimator, acts.vectors, n_resamples,
                                     progress=lambda f, m: report(0.1 + 0.85 * f, f"bootstrap: {m}"))
    findings = [f for f in structure_report(result.graph, acts.label, layer=acts.layer, resamples=resamples)
                if f.kind != "hub"]
    memos["confidence"].put(key, findings)
    return findings


def get_run(spec: ExtractionSpec, mapper: Mapper, progress: Progress | None = None) -> tuple[Run, GraphResult]:
    """One compared run (its activations, graph, depth and metrics) and the graph's views.

    Activations and graph come from :func:`get_activations` / :func:`get_graph`; the
    metrics from :func:`topoact.compare.run_metrics`, stored next to the graph.
    """
    report = progress or (lambda fraction, message: None)
    key, acts = get_activations(spec, lambda f, m: report(0.5 * f, m))
    result = get_graph(key, acts, mapper, lambda f, m: report(0.5 + 0.4 * f, m))
    report(0.9, f"metrics of {spec.model} · {spec.layer}")
    model = load_model(spec.model, spec.weights)
    run = Run(
        spec=RunSpec(spec.model, spec.layer, spec.weights), acts=acts, graph=result.graph,
        depth=relative_depth(model, spec.layer), metrics=run_metrics(acts, result.graph, result.key, get_store()),
        graph_cached=result.from_cache,
    )
    return run, result


# ----------------------------------------------------------------------- anomalies
def scoring_mapper(mapper: Mapper) -> Mapper:
    """The estimator anomaly scores use: ``mapper`` with ``eps=ANOMALY_EPS`` where its eps
    is another rule (as ``python -m topoact anomalies`` does); a number is kept as given.

    Node scores compare a sample's label with its node's members, so they need the finer
    nodes of the k-NN rule (see :data:`topoact.anomaly.ANOMALY_EPS`).
    """
    if isinstance(mapper.eps, str) and mapper.eps != ANOMALY_EPS:
        return clone(mapper).set_params(eps=ANOMALY_EPS)
    return mapper


def get_scored_graph(activations_key: str, acts: ActivationSet, mapper: Mapper,
                     progress: Progress | None = None) -> tuple[Mapper, GraphResult]:
    """The estimator and graph anomaly scores are computed on (:func:`scoring_mapper`)."""
    scoring = scoring_mapper(mapper)
    return scoring, get_graph(activations_key, acts, scoring, progress)


def get_anomalies(acts: ActivationSet, result: GraphResult, mapper: Mapper, *, k: int = 10,
                  stability_top: int | None = None, progress: Progress | None = None):
    """The anomaly report of a graph: per-sample scores from memory or the cache, else computed.

    The same :func:`topoact.workflow.get_or_score` as ``python -m topoact anomalies``.
    With ``stability_top`` the nine-setting sweep around the graph's cover runs too (a
    sample is a candidate in a setting when ranked within ``stability_top``).
    """
    from topoact.anomaly import default_sweep, scores_key

    n_intervals = result.graph.params.get("n_intervals_used") or mapper.n_intervals  # the rule's count for "auto"
    sweep = default_sweep(int(n_intervals), mapper.overlap) if stability_top else []
    key = scores_key(result.key, k=k, sweep=sweep, top=stability_top)
    memos = _memos()
    hit = memos["anomalies"].get(key)
    if hit is not None:
        return hit
    built = CachedGraph(result.graph, result.key, result.from_cache)
    done = get_or_score(acts, built, store=get_store(), k=k, mapper=clone(mapper), sweep=sweep,
                        top=stability_top or 50, progress=progress).report
    memos["anomalies"].put(key, done)
    return done


# ----------------------------------------------------------------------- what nodes see
#: Side in pixels of a node's visualization as a graph icon and in its tooltip.
ICON_SIDE = 64


def stored_visualization(model, acts: ActivationSet, members: np.ndarray):
    """A node's feature visualization if the cache holds it, else None."""
    return featvis.stored_visualization(model, acts, members, store=get_store())


def render_visualization(model, acts: ActivationSet, members: np.ndarray, progress: Progress | None = None):
    """Optimise (or read) a node's feature visualization and store it; the graph's icons follow."""
    report = progress or (lambda fraction, message: None)
    vis = featvis.node_visualization(
        model, acts, members, store=get_store(),
        progress=report,
    )
    if not vis.meta["cached"]:
        _memos()["icons"].clear()
    return vis


def node_exemplars(model, dataset, acts: ActivationSet, members: np.ndarray):
    """Per top class, the members nearest the node's mean as image patches (cached)."""
    return featvis.node_exemplars(model, dataset, acts, members, store=get_store())


def node_text(model, dataset, acts: ActivationSet, members: np.ndarray):
    """Nearest sentences and aligned vocabulary of a text model's node (fast; not cached)."""
    return featvis.text_featvis(model, dataset, acts, members)


def graph_icons(model, acts: ActivationSet, result: GraphResult) -> dict[str, str]:
    """Node id -> ``data:`` URI of the node's visualization, for the rendered nodes of a graph."""
    if model.entry.modality != "image":
        return {}
    memo = _memos()["icons"]
    hit = memo.get(result.key)
    if hit is not None:
        return hit
    stored = featvis.stored_visualizations(model, acts, result.graph, store=get_store())
    icons = {node_id: featvis.png_data_uri(featvis.to_png(vis.patch(), ICON_SIDE)) for node_id, vis in stored.items()}
    memo.put(result.key, icons)
    return icons


def unrendered_nodes(result: GraphResult, icons: dict[str, str], limit: int) -> list[str]:
    """The ``limit`` largest nodes without a visualization yet (ties: graph order)."""
    graph = result.graph
    order = sorted(range(graph.n_nodes), key=lambda i: (-int(graph.node_sizes[i]), i))
    return [graph.node_ids[i] for i in order if graph.node_ids[i] not in icons][:limit]


# ----------------------------------------------------------------------- robustness
@dataclass
class RobustnessResult:
    """A robustness study with what its graph view needs."""

    report: object  # topoact.robustness.RobustnessReport
    positions: np.ndarray
    stats: NodeStats


def robustness_study(config, progress: Progress | None = None) -> RobustnessResult:
    """The robustness study of ``config`` (a ``RobustnessConfig``): from memory, else run.

    Perturbed sets, activations and graphs come from the caches when present. Kept in the
    in-process memo (not ``st.cache_resource``): the study reports progress to the page.
    """
    from topoact.robustness.report import combined_stats, robustness_report

    memo = _memos()["robustness"]
    hit = memo.get(config)
    if hit is not None:
        return hit
    report = robustness_report(config, store=get_store(), model=load_model(config.model), progress=progress)
    result = RobustnessResult(report=report, positions=graph_layout(report.combined_graph), stats=combined_stats(report))
    memo.put(config, result)
    return result


def attackable_models() -> list[str]:
    """Offline image classifiers (what the attacks take)."""
    return [name for name in zoo.list_models(modality="image", offline=True) if zoo.get(name).num_classes]


def clean_image_datasets() -> list[str]:
    """Offline image datasets that load without a path (perturbed sets left out)."""
    return [name for name in zoo.list_datasets(modality="image")
            if ":" not in name and zoo.get_dataset(name).offline and not zoo.get_dataset(name).needs_path]


# ----------------------------------------------------------------------- projection
@st.cache_data(show_spinner=False, max_entries=16)
def projection(activations_key: str, _vectors: np.ndarray, method: str = "pca") -> np.ndarray:
    """2-D projection of an activation set (cached by its key)."""
    return project_2d(_vectors, method=method)


# ----------------------------------------------------------------------- warm-up
def default_layer(model_name: str, layers: list[str]) -> str:
    """The layer Explore opens on for ``model_name`` (one of ``layers``)."""
    preferred = DEFAULT_LAYERS.get(model_name)
    return preferred if preferred in layers else layers[0]


def default_spec() -> ExtractionSpec:
    """The activation set the Explore page opens on (loads the default model and dataset)."""
    model = load_model(DEFAULT_MODEL)
    dataset = load_dataset(DEFAULT_DATASET)
    layers = list(model.entry.default_layers) + [n for n in model.layers() if n not in model.entry.default_layers]
    limit = None if len(dataset) <= DEFAULT_SAMPLE_SIZE else DEFAULT_SAMPLE_SIZE
    return ExtractionSpec(DEFAULT_MODEL, DEFAULT_DATASET, (default_layer(DEFAULT_MODEL, layers),),
                          sampling=samplings_for(model.entry.modality)[0], limit=limit)


def warm_up(report: Callable[[str], None] = print) -> None:
    """Fill the process caches with what the Explore page's default view needs.

    Imports torch and the zoo, loads the default model and dataset (training the digits
    CNN on first use) and reads or computes the default activations and graph, so the
    first page load of a fresh server only reads memory. Run by ``dashboard/serve.py``
    (``make run``) before the server starts.
    """
    spec = default_spec()
    report(f"{DEFAULT_MODEL} and {DEFAULT_DATASET} loaded")
    key, acts = get_activations(spec)
    result = get_graph(key, acts, Mapper())
    report(f"default graph ready: {spec.layer}, {result.graph.n_nodes} nodes")


def model_choices() -> list[str]:
    """Model names: offline-ready ones first."""
    offline = zoo.list_models(offline=True)
    hub = zoo.list_models(offline=False)
    return offline + hub


def model_label(name: str) -> str:
    """A model's name marked as offline-ready or hub-only."""
    try:
        entry = zoo.get(name)
    except zoo.ZooError:
        return name
    return f"{name}  ✓ offline" if entry.offline else f"{name}  (hub)"


def save_uploaded_text(name: str, data: bytes, max_mb: int = UPLOAD_MAX_MB) -> tuple[str | None, str | None]:
    """Check an uploaded text file and save it where the zoo's ``text-file`` loader reads it.

    Returns
    -------
    (path, None) when the file is usable, (None, message) when not.
    """
    import hashlib
    import tempfile
    from pathlib import Path

    suffix = Path(name).suffix.lower()
    if suffix.lstrip(".") not in UPLOAD_TYPES:
        return None, f"{name}: only {', '.join(UPLOAD_TYPES)} files are accepted."
    if len(data) > max_mb * 1024 * 1024:
        return None, f"{name} is larger than {max_mb} MB."
    if not data.strip():
        return None, f"{name} is empty."
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"{name} is not readable UTF-8 text; upload a .txt (one text per line) or a .csv/.tsv with a text column."
    folder = Path(tempfile.gettempdir()) / "topoact-uploads"
    folder.mkdir(exist_ok=True)
    target = folder / (hashlib.sha256(data).hexdigest()[:16] + suffix)
    target.write_bytes(data)
    try:
        load_dataset("text-file", str(target))
    except (zoo.ZooError, ValueError, OSError, KeyError) as exc:
        return None, f"{name} could not be read as a text dataset: {exc}"
    return str(target), None

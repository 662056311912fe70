"""``python -m topoact mapper``: a Mapper graph from your own activations (.npy or .parquet)."""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from topoact import TopoactError
from topoact.cli.extract import activations_from_args, add_source_arguments
from topoact.cli.params import add_mapper_arguments, mapper_params
from topoact.cli.progress import ProgressBar
from topoact.distributed.engine import add_engine_arguments, session_from_args
from topoact.mapper import bootstrap_graphs
from topoact.mapper.bootstrap import check_resamples
from topoact.mapper.builder import Mapper

OUTPUT_SUFFIXES = (".json", ".graphml", ".html")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``mapper`` command."""
    parser = subparsers.add_parser(
        "mapper",
        help="build a Mapper graph from an activation array (.npy or .parquet)",
        description="Build a Mapper graph from activation vectors and print a one-line JSON summary.",
    )
    parser.add_argument("--input", help="activations: .npy (n x d) or .parquet; or name them with "
                        "--model/--dataset/--layer (taken from the cache, extracted when missing)")
    parser.add_argument("--labels", help="optional labels: .npy of length n")
    parser.add_argument("--label-column", help="for .parquet input: column holding the labels")
    add_mapper_arguments(parser)
    parser.add_argument("--out", help="write the graph: .json, .graphml or .html (an offline interactive page)")
    parser.add_argument("--recompute", action="store_true", help="ignore a cached graph for cached activations")
    parser.add_argument("--confidence", type=int, default=None, metavar="N",
                        help="rebuild the graph on N bootstrap resamples and report how often each component, "
                             "loop and flare persists (in the summary's 'features')")

    add_engine_arguments(parser.add_argument_group("engine (extraction and clustering)"))
    source = parser.add_argument_group("activations from the zoo (instead of --input)")
    add_source_arguments(source, several_layers=False, required=False)
    parser.set_defaults(func=run)
    return parser


def load_activations(path: str, label_column: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an activation matrix (and labels from a parquet column) from ``path``."""
    file = Path(path)
    if not file.is_file():
        raise TopoactError(f"input file not found: {file}")
    suffix = file.suffix.lower()
    if suffix == ".npy":
        if label_column:
            raise TopoactError("--label-column applies to .parquet input; use --labels for .npy")
        try:
            X = np.load(file, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise TopoactError(f"cannot read {file} as a .npy array: {exc}") from None
        return X, None
    if suffix == ".parquet":
        return _load_parquet(file, label_column)
    raise TopoactError(f"unsupported input {file.name}: expected a .npy or .parquet file")


def _load_parquet(file: Path, label_column: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
    except (pa.ArrowInvalid, OSError) as exc:
        raise TopoactError(f"cannot read {file} as parquet: {exc}") from None
    labels = None
    if label_column:
        if label_column not in table.column_names:
            raise TopoactError(
                f"no column {label_column!r} in {file.name}; columns: {', '.join(table.column_names)}"
            )
        labels = table.column(label_column).to_numpy()
        table = table.drop_columns([label_column])
    list_columns = [f.name for f in table.schema if pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type)
                    or pa.types.is_large_list(f.type)]
    if list_columns:
        if len(list_columns) > 1:
            raise TopoactError(f"{file.name} has several vector columns ({', '.join(list_columns)}); keep one")
        column = table.column(list_columns[0]).combine_chunks()
        lengths = column.value_lengths().to_numpy(zero_copy_only=False) if hasattr(column, "value_lengths") else None
        if lengths is not None and lengths.size and (lengths != lengths[0]).any():
            raise TopoactError(f"vectors in column {list_columns[0]!r} have different lengths")
        width = int(lengths[0]) if lengths is not None and lengths.size else column.type.list_size
        X = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), width)
        return X, labels
    numeric = [f.name for f in table.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
    if not numeric:
        raise TopoactError(f"{file.name} has no numeric or vector columns")
    X = np.column_stack([table.column(name).to_numpy(zero_copy_only=False) for name in numeric])
    return X, labels


def run(args: argparse.Namespace) -> int:
    """Build the graph, print the summary, write the output."""
    with session_from_args(args) as engine:
        return _run(args, engine)


def _run(args: argparse.Namespace, engine) -> int:
    if args.out and Path(args.out).suffix.lower() not in OUTPUT_SUFFIXES:
        raise TopoactError(f"--out must end in {', '.join(OUTPUT_SUFFIXES)}; got {args.out}")
    _check_ranges(args)
    if (args.input is None) == (args.model is None):
        raise TopoactError("give either --input FILE or --model MODEL --dataset DATASET [--layer LAYER]")
    acts = None
    if args.input is not None:
        X, labels = load_activations(args.input, args.label_column)
    else:
        if args.dataset is None:
            raise TopoactError("--model needs --dataset (python -m topoact zoo datasets lists them)")
        acts = _activations(args)
        X, labels = acts.vectors, (acts.label if np.any(acts.label >= 0) else None)
    if args.labels:
        if not Path(args.labels).is_file():
            raise TopoactError(f"labels file not found: {args.labels}")
        try:
            labels = np.load(args.labels, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise TopoactError(f"cannot read {args.labels} as a .npy array: {exc}") from None
    if labels is not None and (labels.ndim != 1 or len(labels) != len(X)):
        raise TopoactError(f"labels must be a 1-D array with one entry per row of X ({len(X)}); got shape {labels.shape}")
    start = time.perf_counter()
    graph, cached = fit_graph(args, X, labels, acts, engine=engine)
    seconds = time.perf_counter() - start
    summary = {**graph.summary(), "eps": graph.params.get("eps_used"), "seconds": round(seconds, 3)}
    if acts is not None:
        summary.update(model=acts.meta.get("model"), dataset=acts.meta.get("dataset"), layer=acts.layer,
                       cached=cached)
    if args.confidence is not None:
        summary["features"] = feature_confidences(args, X, labels, graph)
    if args.out:
        out = Path(args.out)
        if out.suffix.lower() == ".html":
            out.write_text(_graph_page(graph, labels, acts, args), encoding="utf-8")
        elif out.suffix.lower() == ".graphml":
            import networkx as nx

            nx_graph = graph.to_networkx()
            for _, data in nx_graph.nodes(data=True):
                for key, value in list(data.items()):
                    if isinstance(value, (list, dict)):
                        data[key] = json.dumps(value)
            nx.write_graphml(nx_graph, out)
        else:
            data = graph.to_dict()
            data["summary"] = summary
            out.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        summary["out"] = str(out)
    print(json.dumps(summary))
    return 0


def feature_confidences(args: argparse.Namespace, X: np.ndarray, labels: np.ndarray | None, graph) -> list[dict]:
    """``--confidence N``: each component, loop and flare with how often it persists in N resamples."""
    from topoact.anomaly import structure_report

    n_resamples = check_resamples(args.confidence)
    mapper = mapper_from_args(args).fit(X)  # the graph may have come from the cache: refit for its state
    resamples = bootstrap_graphs(mapper, X, n_resamples, random_state=args.seed)
    named = labels if labels is not None else np.zeros(len(X), dtype=np.int64)
    return [
        {"kind": f.kind, "nodes": f.nodes, "samples": int(f.members.size), "confidence": f.confidence,
         "sentence": f.sentence}
        for f in structure_report(graph, named, resamples=resamples) if f.kind != "hub"
    ]


def mapper_from_args(args: argparse.Namespace, engine=None):
    """The (unfitted) Mapper estimator named by :func:`add_mapper_arguments`' arguments.

    ``engine``: where cover elements are clustered (``None``: locally).
    """
    return Mapper(**mapper_params(args), random_state=args.seed, engine=engine or "local")


def fit_graph(args: argparse.Namespace, X: np.ndarray, labels: np.ndarray | None, acts=None, engine=None):
    """``(graph, cached)``: the Mapper graph of ``X`` with the command's Mapper arguments.

    For zoo activations (``acts``) the graph comes from the shared graph cache
    (:func:`topoact.workflow.get_or_build_graph`) unless ``--recompute``/``--no-cache``,
    and is stored after fitting.
    """
    from topoact.cache import Store
    from topoact.workflow import get_or_build_graph

    mapper = mapper_from_args(args, engine)
    try:
        with ProgressBar(disable=getattr(args, "quiet", False)) as progress:
            if acts is None:
                graph, cached = mapper.fit(X, progress=progress).graph_, False
            else:
                with nullcontext() if getattr(args, "no_cache", False) else Store(args.cache) as store:
                    built = get_or_build_graph(acts, mapper, store, recompute=getattr(args, "recompute", False),
                                               progress=progress)
                graph, cached = built.graph, built.from_cache
    except Exception as exc:  # sklearn's InvalidParameterError is a ValueError too
        if isinstance(exc, (ValueError, TypeError)):
            raise TopoactError(str(exc).splitlines()[0]) from None
        raise
    if labels is not None:
        graph.node_data.update(graph.label_summary(labels))
    return graph, cached


def _graph_page(graph, labels, acts, args) -> str:
    """The graph as a self-contained interactive HTML page (vis-network inline, no network)."""
    from topoact.viz.graph_view import build_graph_view, node_stats
    from topoact.viz.layout import graph_layout
    from topoact.viz.pyvis_html import graph_view_html

    known = labels is not None
    stats = node_stats(
        graph, labels if known else np.full(graph.n_points, -1),
        prediction=None if acts is None else acts.prediction,
        confidence=None if acts is None else acts.confidence,
    )
    view = build_graph_view(graph, stats, graph_layout(graph), colour_by="majority_label" if known else "lens")
    source = args.input or f"{args.model} / {args.dataset} / {acts.layer}"
    return graph_view_html(view, heading=f"topoact Mapper graph: {source}")


def _activations(args: argparse.Namespace):
    """The activation set named by --model/--dataset/--layer (cached or extracted)."""
    import zoo

    layer = args.layer or zoo.get(args.model).default_layers[0]
    return activations_from_args(args, [layer])[layer]


def _check_ranges(args: argparse.Namespace) -> None:
    """Every flag checked before anything is read: the Mapper ones against Mapper's constraints."""
    if getattr(args, "confidence", None) is not None:
        check_resamples(args.confidence)
    mapper_params(args)

"""``python -m topoact anomalies``: rank the samples of a layer's Mapper graph as anomaly candidates."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from topoact import TopoactError

SCORES_KIND = "anomaly_scores"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``anomalies`` command."""
    from topoact.extract.cli import add_source_arguments

    parser = subparsers.add_parser(
        "anomalies",
        help="rank samples as anomaly candidates (likely mislabelled, isolated) with reasons",
        description="Build the Mapper graph of a layer's activations and print the top anomaly candidates.",
    )
    add_source_arguments(parser, several_layers=False, required=True)
    parser.add_argument("--top", type=int, default=50, help="rows to show (default 50)")
    parser.add_argument("--csv", help="write the full ranked table (one row per sample) to this CSV file")
    parser.add_argument("--k", type=int, default=10, help="neighbours for k-NN disagreement and LOF (default 10)")
    parser.add_argument("--intervals", type=int, default=15, help="Mapper intervals (default 15)")
    parser.add_argument("--overlap", type=float, default=0.4, help="Mapper overlap in [0, 1) (default 0.4)")
    parser.add_argument("--min-samples", type=int, default=5, help="DBSCAN min_samples (default 5)")
    parser.add_argument("--recompute", action="store_true", help="ignore cached scores")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Score, rank, print (and cache) the candidates."""
    import pandas as pd

    from topoact.anomaly.scores import aggregate_by_sample, rank_samples

    if args.top < 1:
        raise TopoactError(f"--top must be at least 1; got {args.top}")
    if args.k < 1:
        raise TopoactError(f"--k must be at least 1; got {args.k}")
    if args.intervals < 1 or not 0.0 <= args.overlap < 1.0 or args.min_samples < 1:
        raise TopoactError("--intervals and --min-samples must be at least 1 and --overlap in [0, 1)")
    if args.csv and Path(args.csv).suffix.lower() != ".csv":
        raise TopoactError(f"--csv must end in .csv; got {args.csv}")
    import zoo
    from topoact.extract.cli import activations_from_args

    layer = args.layer or zoo.get(args.model).default_layers[0]
    acts = activations_from_args(args, [layer])[layer]
    if not np.any(acts.label >= 0):
        raise TopoactError(f"dataset {args.dataset} has no labels; anomaly ranking needs labelled samples")
    key = None if args.no_cache else _scores_key(acts, args)
    per_sample = None
    if key and not args.recompute:
        from topoact.cache import Store

        with Store(args.cache) as store:
            table = store.get_table(SCORES_KIND, key)
        per_sample = None if table is None else table.to_pandas()
    if per_sample is None:
        per_sample = score_activations(acts, k=args.k, n_intervals=args.intervals, overlap=args.overlap,
                                       min_samples=args.min_samples, seed=args.seed, key=key, cache=args.cache)
    ranked = rank_samples(per_sample)
    if args.csv:
        ranked.to_csv(args.csv)
    shown = ranked.head(args.top)
    with pd.option_context("display.max_colwidth", 120, "display.width", 250):
        print(shown[["label", "node_majority", "combined", "rank", "reasons"]].round(3).to_string())
    return 0


def score_activations(acts, *, k: int = 10, n_intervals: int = 15, overlap: float = 0.4, min_samples: int = 5,
                      seed: int = 0, key: str | None = None, cache: str | None = None):
    """Per-sample scores of an :class:`~topoact.activations.ActivationSet` (graph built here).

    Rows of the same sample (``all_positions`` sampling) are scored one by one and then
    averaged per sample (:func:`~topoact.anomaly.aggregate_by_sample`). With ``key`` the
    table is stored in the cache together with the graph it came from.
    """
    from contextlib import nullcontext

    from topoact.anomaly.scores import aggregate_by_sample, anomaly_scores
    from topoact.cache import Store
    from topoact.mapper import Mapper, get_or_build_graph

    mapper = Mapper(lens="l2norm", n_intervals=n_intervals, overlap=overlap, min_samples=min_samples,
                    random_state=seed)
    with Store(cache) if key else nullcontext() as store:
        try:
            built = get_or_build_graph(acts, mapper, store)  # the graph other commands cache too
        except ValueError as exc:
            raise TopoactError(str(exc).splitlines()[0]) from None
        graph = built.graph
        has_head = bool(np.any(acts.prediction >= 0))
        scores = anomaly_scores(graph, acts.label, vectors=acts.vectors,
                                prediction=acts.prediction if has_head else None,
                                confidence=acts.confidence if has_head else None, k=k)
        per_sample = aggregate_by_sample(scores, acts.sample_index)
        if key:
            store.put_table(SCORES_KIND, key, per_sample, {"layer": acts.layer, "graph_key": built.key,
                                                            "model": acts.meta.get("model"),
                                                            "dataset": acts.meta.get("dataset")})
    return per_sample


def _scores_key(acts, args: argparse.Namespace) -> str:
    from topoact.cache import cache_key

    source = {k: acts.meta.get(k) for k in ("model", "weights_id", "dataset", "content_hash", "sampling",
                                             "max_positions", "seed", "limit", "predictions", "layout")}
    return cache_key(kind=SCORES_KIND, layer=acts.layer, source=json.loads(json.dumps(source, default=str)),
                     k=args.k, intervals=args.intervals, overlap=args.overlap, min_samples=args.min_samples)

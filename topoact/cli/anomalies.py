"""``python -m topoact anomalies``: rank the samples of a layer's Mapper graph as anomaly candidates."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from topoact import TopoactError
from topoact.cli.extract import activations_from_args, add_source_arguments
from topoact.cli.params import COVER_AND_DENSITY, add_mapper_arguments, mapper_params
from topoact.cli.progress import ProgressBar
from topoact.mapper import Mapper


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``anomalies`` command."""
    parser = subparsers.add_parser(
        "anomalies",
        help="rank samples as anomaly candidates (likely mislabelled, isolated) with reasons",
        description="Build the Mapper graph of a layer's activations and print the top anomaly candidates, "
                    "optionally their stability over a sweep of cover settings and the graph's structure.",
    )
    add_source_arguments(parser, several_layers=False, required=True)
    parser.add_argument("--top", type=int, default=50, help="rows to show (default 50)")
    parser.add_argument("--csv", help="write the full ranked table (one row per sample) to this CSV file")
    parser.add_argument("--k", type=int, default=10, help="neighbours for k-NN disagreement and LOF (default 10)")
    add_mapper_arguments(parser.add_argument_group("Mapper graph"), COVER_AND_DENSITY, numeric_only=("n_intervals",))
    parser.add_argument("--stability", action="store_true",
                        help="also refit over 9 interval/overlap settings around these and add a 'stability' "
                             "column: the share of settings in which the sample is in the top --top")
    parser.add_argument("--structure", action="store_true",
                        help="also print the graph's components, loops, flares and hubs, and its most anomalous nodes")
    parser.add_argument("--recompute", action="store_true", help="ignore cached scores")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Score, rank, print (and cache) the candidates."""
    import pandas as pd

    from topoact.anomaly.report import default_sweep

    if args.top < 1:
        raise TopoactError(f"--top must be at least 1; got {args.top}")
    if args.k < 1:
        raise TopoactError(f"--k must be at least 1; got {args.k}")
    params = mapper_params(args)
    if args.csv and Path(args.csv).suffix.lower() != ".csv":
        raise TopoactError(f"--csv must end in .csv; got {args.csv}")
    import zoo
    from topoact.anomaly import ANOMALY_EPS
    from topoact.cache import Store
    from topoact.workflow import get_or_build_graph, get_or_score

    layer = args.layer or zoo.get(args.model).default_layers[0]
    acts = activations_from_args(args, [layer])[layer]
    if not np.any(acts.label >= 0):
        raise TopoactError(f"dataset {args.dataset} has no labels; anomaly ranking needs labelled samples")
    mapper = Mapper(lens="l2norm", **params, eps=ANOMALY_EPS, random_state=args.seed)
    sweep = default_sweep(args.intervals, args.overlap) if args.stability else []
    with nullcontext() if args.no_cache else Store(args.cache) as store:
        try:
            built = get_or_build_graph(acts, mapper, store)  # the graph other commands cache too
        except ValueError as exc:
            raise TopoactError(str(exc).splitlines()[0]) from None
        with ProgressBar(disable=getattr(args, "quiet", False) or not sweep) as progress:
            report = get_or_score(acts, built, store=store, k=args.k, mapper=mapper, sweep=sweep, top=args.top,
                                  recompute=args.recompute, progress=progress).report
    graph = built.graph
    ranked = report.samples
    if args.csv:
        ranked.to_csv(args.csv)
    columns = ["label", "node_majority", "combined", "rank"] + (["stability"] if "stability" in ranked else [])
    with pd.option_context("display.max_colwidth", 120, "display.width", 250):
        print(ranked.head(args.top)[columns + ["reasons"]].round(3).to_string())
        if args.structure:
            print()
            print(f"Structure of {acts.layer} ({graph.n_nodes} nodes, {len(graph.edges)} edges):")
            for finding in report.structure:
                print(f"- {finding.sentence}")
            print()
            print("Most anomalous nodes:")
            print(report.nodes.head(10).round(3).to_string())
    return 0

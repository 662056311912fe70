"""``python -m topoact compare``: one metrics table for several models and layers on one dataset."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path

from topoact import TopoactError
from topoact.cli.extract import add_data_arguments, check_data_args
from topoact.cli.mapper import mapper_from_args
from topoact.cli.params import add_mapper_arguments
from topoact.cli.progress import ProgressBar


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``compare`` command."""
    parser = subparsers.add_parser(
        "compare",
        help="compare the Mapper graphs of several models and layers on one dataset (metrics table, trajectory)",
        description="Build (or read from the cache) the Mapper graph of every model and layer on the same inputs "
        "and print one metrics table; optionally write it as CSV, plot metrics against relative depth, "
        "list the splits and merges between consecutive layers, and sweep the cover of the first run.",
    )
    parser.add_argument("--models", nargs="+", required=True, metavar="MODEL", help="zoo model names")
    parser.add_argument("--layers", nargs="+", default=None, metavar="LAYER",
                        help="layers of every model (default: each model's default layers); "
                        "MODEL:LAYER names a layer of one model only")
    parser.add_argument("--controls", action="store_true", help="add each model's untrained control")
    add_data_arguments(parser, required=True)
    add_mapper_arguments(parser)
    parser.add_argument("--csv", help="write the metrics table to this .csv file")
    parser.add_argument("--plot", help="write the layer trajectory (metrics vs relative depth) to this .png/.svg/.pdf")
    parser.add_argument("--shape", action="store_true",
                        help="add shape_change: Gromov-Wasserstein distance to the previous layer (slower)")
    parser.add_argument("--flow", action="store_true",
                        help="print the splits and merges between consecutive layers of each model")
    parser.add_argument("--stability", metavar="FIGURE",
                        help="sweep intervals x overlap (at --eps) on the first run, write the persistence plot "
                        "here and print the suggested parameters")
    parser.set_defaults(func=run)
    return parser


def run_specs(models: list[str], layers: list[str] | None, controls: bool) -> list:
    """The runs the options name, in the order given (models, then layers, then controls)."""
    import zoo

    from topoact.compare.runs import RunSpec

    for layer in layers or []:
        if ":" in layer and layer.split(":", 1)[0] not in models:
            raise TopoactError(f"--layers {layer}: {layer.split(':', 1)[0]} is not one of --models ({', '.join(models)})")
    specs = []
    for weights in ("pretrained", "untrained") if controls else ("pretrained",):
        for model in models:
            entry = zoo.get(model)
            if layers is None:
                chosen = list(entry.default_layers)
            else:
                chosen = [name.split(":", 1)[1] if ":" in name else name for name in layers
                          if ":" not in name or name.split(":", 1)[0] == model]
            specs.extend(RunSpec(model, layer, weights) for layer in dict.fromkeys(chosen))
    if not specs:
        raise TopoactError("no layer to compare: --layers names none of the models' layers")
    return specs


def run(args: argparse.Namespace) -> int:
    """Compare, print the table and write what was asked."""
    import pandas as pd

    from topoact.compare.plots import FIGURE_SUFFIXES

    for option, value, suffixes in (("--csv", args.csv, (".csv",)), ("--plot", args.plot, FIGURE_SUFFIXES),
                                    ("--stability", args.stability, FIGURE_SUFFIXES)):
        if value and Path(value).suffix.lower() not in suffixes:
            raise TopoactError(f"{option} must end in {' or '.join(suffixes)}; got {value}")
    mapper = mapper_from_args(args)
    check_data_args(args)
    specs = run_specs(args.models, args.layers, args.controls)

    from topoact.cache import Store
    from topoact.compare.runs import compare_runs

    with nullcontext() if args.no_cache else Store(args.cache) as store, ProgressBar(disable=args.quiet) as progress:
        comparison = compare_runs(
            specs, args.dataset, mapper=mapper, store=store, sampling=args.sampling, max_positions=args.max_positions,
            limit=args.limit, seed=args.seed, batch_size=args.batch_size, device=args.device,
            dataset_path=args.dataset_path, shape=args.shape, progress=progress,
        )
    table = comparison.table
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_colwidth", 40):
        print(table.round(3).to_string(index=False))
    print(f"{len(comparison.runs)} runs in {comparison.seconds:.1f} s "
          f"({int(table['cached'].sum())} graphs from the cache)", file=sys.stderr)
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.plot:
        from topoact.compare.plots import save_figure, trajectory_figure

        title = f"{args.dataset}: {', '.join(dict.fromkeys(s.series for s in specs))}"
        save_figure(trajectory_figure(table, title=title), args.plot)
    if args.flow:
        _print_flows(comparison)
    if args.stability:
        _stability(comparison, mapper, args)
    return 0


def _print_flows(comparison, per_pair: int = 3) -> None:
    """Splits and merges between consecutive layers of each series (by depth)."""
    runs = comparison.runs
    by_series: dict[str, list[int]] = {}
    for index, run in enumerate(runs):
        by_series.setdefault(run.spec.series, []).append(index)
    for indices in by_series.values():
        indices.sort(key=lambda i: runs[i].depth)
        for first, second in zip(indices, indices[1:]):
            flow = comparison.flow(first, second)
            print(f"\n{flow.names[0]} -> {flow.names[1]}: {len(flow.splits)} splits, {len(flow.merges)} merges")
            for event in (flow.splits[:per_pair] + flow.merges[:per_pair]):
                print(f"  {event.sentence}")


def _stability(comparison, mapper, args: argparse.Namespace) -> None:
    from topoact.compare.plots import save_figure, stability_figure
    from topoact.compare.stability import parameter_stability

    first = comparison.runs[0]
    with ProgressBar(disable=args.quiet) as progress:
        result = parameter_stability(first.acts.vectors, first.acts.label, mapper=mapper, eps=(mapper.eps,),
                                     progress=progress)
    save_figure(stability_figure(result), args.stability)
    print(f"\n{first.spec.name}: {result.describe()}; sweep of {len(result.table)} settings in {result.seconds:.1f} s")

"""``python -m topoact robustness``: clean vs attacked activations in one Mapper graph, per-sample
vulnerability, whether the clean graph predicts it, and the graph metrics as the strength grows."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from topoact import TopoactError
from topoact.cli.attack import add_attack_arguments, check_common, strengths_from_args
from topoact.cli.params import COVER_AND_DENSITY, add_mapper_arguments, mapper_params
from topoact.cli.progress import ProgressBar
from topoact.extract.names import IMAGE_SAMPLINGS

OUTPUT_SUFFIXES = (".html", ".json")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``robustness`` command."""
    parser = subparsers.add_parser(
        "robustness",
        help="adversarial inputs in the Mapper graph: vulnerability per sample and the strength sweep",
        description="Attack a dataset at several strengths, build Mapper graphs of a layer's activations "
        "(clean, attacked, and both together) and print: accuracy under attack and under noise of the same "
        "size, how well the clean graph predicts which samples flip at small strength (Spearman, AUROC; the "
        "model's confidence margin as the baseline), graph metrics as the strength grows, and the nodes where "
        "clean samples sit with attacked samples of another class. Everything is cached.",
    )
    add_attack_arguments(parser)
    parser.add_argument("--layer", default=None, help="dotted module name (default: the model's last default layer)")
    parser.add_argument("--attack", default="pgd", help="fgsm or pgd (default pgd)")
    parser.add_argument("--no-control", action="store_true", help="skip the random-noise control")
    parser.add_argument("--combined-strength", default=None, metavar="EPS",
                        help="strength of the clean + attacked graph (default: the middle strength)")
    parser.add_argument("--small-strength", default=None, metavar="EPS",
                        help="'flips at small strength' threshold (default: the smallest strength where 10%% flip)")
    parser.add_argument("--sampling", default="gap", help=f"{', '.join(IMAGE_SAMPLINGS)} (default gap: one pooled "
                        "vector per sample)")
    parser.add_argument("--max-positions", type=int, default=16, help="vectors per sample for all_positions")
    add_mapper_arguments(parser.add_argument_group("Mapper graphs"), COVER_AND_DENSITY, numeric_only=("n_intervals",))
    parser.add_argument("--top", type=int, default=10, help="nodes of the combined graph to list (default 10)")
    parser.add_argument("--csv", default=None, help="write the per-sample vulnerability table to this .csv")
    parser.add_argument("--out", default=None, help="write the clean + attacked graph: .html (coloured by "
                        "attacked share) or .json")
    parser.add_argument("--cache", default=None, metavar="PATH", help="cache file (default: the topoact cache)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the activation/graph cache")
    parser.set_defaults(func=run)
    return parser


def config_from_args(args: argparse.Namespace):
    """A :class:`RobustnessConfig` from the parsed arguments (every range checked)."""
    from topoact.robustness.report import RobustnessConfig
    from zoo.perturbed import parse_strength

    check_common(args)
    if args.sampling not in IMAGE_SAMPLINGS:
        raise TopoactError(f"unknown --sampling {args.sampling!r}; valid: {', '.join(IMAGE_SAMPLINGS)}")
    if args.max_positions < 1:
        raise TopoactError(f"--max-positions must be at least 1; got {args.max_positions}")
    if args.top < 1:
        raise TopoactError(f"--top must be at least 1; got {args.top}")
    params = mapper_params(args)
    for flag, value, suffixes in (("--csv", args.csv, (".csv",)), ("--out", args.out, OUTPUT_SUFFIXES)):
        if value and Path(value).suffix.lower() not in suffixes:
            raise TopoactError(f"{flag} must end in {' or '.join(suffixes)}; got {value}")
    return RobustnessConfig(
        model=args.model, dataset=args.dataset, layer=args.layer, attack=args.attack,
        strengths=strengths_from_args(args), control=None if args.no_control else "noise",
        combined_strength=None if args.combined_strength is None else parse_strength(args.combined_strength),
        small_strength=None if args.small_strength is None else parse_strength(args.small_strength),
        seed=args.seed, limit=args.limit, sampling=args.sampling, max_positions=args.max_positions,
        **params,
    )


def run(args: argparse.Namespace) -> int:
    """Run the study and print its tables."""
    import pandas as pd

    from topoact.robustness.report import robustness_report

    config = config_from_args(args)
    store = None
    if not args.no_cache:
        from topoact.cache import Store

        store = Store(args.cache)
    with ProgressBar(disable=args.quiet) as progress:
        result = robustness_report(config, store=store, progress=progress)
    if args.csv:
        result.vulnerability.to_csv(args.csv)
    if args.out:
        _write_graph(result, Path(args.out))
    print(render_text(result, top=args.top))
    summary = result.summary()
    if args.out:
        summary["out"] = args.out
    print(json.dumps(summary))
    return 0


def render_text(result, top: int = 10) -> str:
    """The report as plain-text tables."""
    import pandas as pd

    from topoact.robustness.report import SWEEP_COLUMNS

    config = result.config
    n = len(result.vulnerability)
    lines = [f"{config.model} on {config.dataset} ({n} samples), layer {result.layer}, attack {config.attack}",
             "", "accuracy under attack (flipped = prediction differs from the clean one):"]
    with pd.option_context("display.width", 250, "display.max_colwidth", 60):
        lines.append(result.accuracy.drop(columns=["dataset"]).round(4).to_string())
        lines += ["", f"does the clean graph predict vulnerability? target: flips at strength <= "
                  f"{result.small_strength:g} ({(result.vulnerability['flip_strength'] <= result.small_strength).mean():.0%}"
                  " of samples)"]
        if result.prediction is None:
            lines.append("  not measurable: every sample (or none) flips at that strength")
        else:
            lines.append(result.prediction.round(4).to_string())
        lines += ["", "strength sweep (graph of the attacked activations; strength 0 = clean; topoact.compare metrics):",
                  result.sweep[list(SWEEP_COLUMNS)].round(4).to_string(), ""]
        graph = result.combined_graph
        lines.append(f"clean + {config.attack} {config.middle_strength:g} graph: {graph.n_nodes} nodes, "
                     f"{graph.n_edges} edges; nodes where clean samples sit with attacked samples of another class:")
        lines.append(result.mix.head(top).round(3).to_string())
    return "\n".join(lines)


def _write_graph(result, out: Path) -> None:
    if out.suffix.lower() == ".json":
        data = result.combined_graph.to_dict()
        data["kind"] = ["attacked" if a else "clean" for a in result.is_attacked.tolist()]
        out.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        return
    from topoact.robustness.report import combined_view
    from topoact.viz.pyvis_html import graph_view_html

    config = result.config
    heading = (f"topoact: clean + {config.attack} {config.middle_strength:g} on {config.model} / "
               f"{config.dataset} / {result.layer}; node colour: attacked share (dark = mostly attacked)")
    out.write_text(graph_view_html(combined_view(result), heading=heading), encoding="utf-8")

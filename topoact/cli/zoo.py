"""``python -m topoact zoo ...``: list models, datasets and layers."""

from __future__ import annotations

import argparse
import sys

from zoo.datasets import get_dataset, list_datasets
from zoo.registry import MODALITIES, get, list_models


def _print_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def run_models(args: argparse.Namespace) -> int:
    """Print the models matching ``--filter``/``--modality``, marking the offline-ready ones."""
    offline = True if args.offline else None
    names = list_models(args.filter, modality=args.modality, offline=offline)
    rows = []
    for name in names:
        entry = get(name)
        rows.append((name, entry.modality, entry.source, "offline" if entry.offline else "hub", entry.description))
    if not rows:
        print(f"no model matches {args.filter!r}", file=sys.stderr)
        return 1
    _print_table(rows, ("MODEL", "MODALITY", "SOURCE", "WEIGHTS", "DESCRIPTION"))
    return 0


def run_datasets(args: argparse.Namespace) -> int:
    """Print the datasets matching ``--filter``/``--modality``."""
    rows = []
    for name in list_datasets(args.filter, modality=args.modality):
        entry = get_dataset(name)
        where = "path=" if entry.needs_path else ("offline" if entry.offline else "hub")
        rows.append((name, entry.modality, where, entry.description))
    if not rows:
        print(f"no dataset matches {args.filter!r}", file=sys.stderr)
        return 1
    _print_table(rows, ("DATASET", "MODALITY", "DATA", "DESCRIPTION"))
    return 0


def run_layers(args: argparse.Namespace) -> int:
    """Print a model's default layers, or with ``--all`` every dotted module name."""
    entry = get(args.model)
    if not args.all:
        for layer in entry.default_layers:
            print(layer)
        return 0
    from zoo.models import load_model

    # The layer names do not depend on the weights, so the untrained control (no download) is enough.
    if args.checkpoint:
        model = load_model(args.model, checkpoint=args.checkpoint)
    else:
        model = load_model(args.model, weights="untrained")
    defaults = set(entry.default_layers)
    for layer in model.layers():
        print(f"{layer}  *" if layer in defaults else layer)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``zoo`` command (sub-commands ``models``, ``datasets``, ``layers``)."""
    parser = subparsers.add_parser("zoo", help="list the models, datasets and layers of the zoo")
    commands = parser.add_subparsers(dest="zoo_command", metavar="SUBCOMMAND")

    models = commands.add_parser("models", help="list models (offline-ready ones marked 'offline')")
    models.add_argument("--filter", default="*", help="fnmatch pattern, e.g. 'resnet*'")
    models.add_argument("--modality", choices=MODALITIES)
    models.add_argument("--offline", action="store_true", help="only models that work without the hub")
    models.set_defaults(func=run_models)

    datasets = commands.add_parser("datasets", help="list datasets")
    datasets.add_argument("--filter", default="*", help="fnmatch pattern")
    datasets.add_argument("--modality", choices=MODALITIES)
    datasets.set_defaults(func=run_datasets)

    layers = commands.add_parser("layers", help="list a model's layers (default ones; --all for every module)")
    layers.add_argument("model", metavar="MODEL")
    layers.add_argument("--all", action="store_true", help="every dotted module name (defaults marked *)")
    layers.add_argument("--checkpoint", help="local weights (.safetensors, .pth, or a Hugging Face folder)")
    layers.set_defaults(func=run_layers)

    def show_help(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=show_help)
    return parser

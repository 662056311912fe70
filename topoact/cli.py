"""Command line: ``python -m topoact <command> ...``.

Each command lives beside the code it drives, in a module that exposes
``add_parser(subparsers)``; the parser it adds sets ``func`` to a callable taking the
parsed arguments and returning an exit code. This module only wires them together and
turns user errors into one clear line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from topoact import TopoactError, __version__

# Modules that contribute sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "zoo.cli",
    "topoact.extract.cli",
    "topoact.mapper.cli",
    "topoact.cache.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="python -m topoact",
        description="Explore the shape of neural-network activations with Mapper graphs.",
    )
    parser.add_argument("--version", action="version", version=f"topoact {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that part of the product is not built yet
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (TopoactError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

"""Command line: ``python -m topoact <command> ...``.

Each command is one module of this package (``topoact/cli/<command>.py``) that exposes
``add_parser(subparsers)``; the parser it adds sets ``func`` to a callable taking the
parsed arguments and returning an exit code. This module only wires them together and
turns user errors into one clear line. ``--help`` imports every command module, so the
heavy libraries (torch, pandas, the cache, the workflow) are imported inside the commands'
functions, on purpose; the commands' own helpers and the Mapper core are imported at the top.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from topoact import TopoactError, __version__

# Command name -> module that defines it, in the order ``--help`` lists them.
COMMANDS: dict[str, str] = {
    "zoo": "topoact.cli.zoo",
    "extract": "topoact.cli.extract",
    "mapper": "topoact.cli.mapper",
    "cache": "topoact.cli.cache",
    "anomalies": "topoact.cli.anomalies",
    "compare": "topoact.cli.compare",
    "featvis": "topoact.cli.featvis",
    "attack": "topoact.cli.attack",
    "robustness": "topoact.cli.robustness",
}
COMMAND_MODULES: tuple[str, ...] = tuple(COMMANDS.values())


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser with every available sub-command.

    With ``only`` (a command name) just that command's module is imported: each
    pulls in heavy libraries (torch, scikit-learn), and a command needs only its own.
    """
    parser = argparse.ArgumentParser(
        prog="python -m topoact",
        description="Explore the shape of neural-network activations with Mapper graphs.",
    )
    parser.add_argument("--version", action="version", version=f"topoact {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
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
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=first if first in COMMANDS else None)
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

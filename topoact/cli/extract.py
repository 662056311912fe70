"""``python -m topoact extract``: activation vectors of zoo models on zoo datasets.

Prints one JSON line per layer; stores results in the cache (unless ``--no-cache``);
``--out`` also writes them to a ``.npy`` (vectors) or ``.npz`` (every column) file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from topoact import TopoactError
from topoact.activations import ActivationSet
from topoact.cli.progress import ProgressBar
from topoact.distributed.engine import add_engine_arguments, engine_from_args, session_from_args
from topoact.extract.names import IMAGE_SAMPLINGS, NONFINITE_POLICIES, SAMPLINGS, TEXT_SAMPLINGS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``extract`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "extract",
        help="compute activation vectors of a model's layers on a dataset",
        description="Compute sampled activation vectors of model layers on a dataset "
        "(one forward pass for all layers), store them in the cache and print a JSON "
        "summary per layer.",
    )
    add_source_arguments(p, several_layers=True)
    p.add_argument("--out", default=None, metavar="PATH",
                   help="also write .npy (vectors; one file per layer when several) or .npz (all columns)")
    add_engine_arguments(p)
    p.set_defaults(func=run)
    return p


def add_source_arguments(p: argparse.ArgumentParser, *, several_layers: bool, required: bool = True) -> None:
    """Arguments that name activations: model, dataset, layer(s), sampling, cache.

    Shared by ``extract`` and by commands that work on activations (``mapper``).
    """
    p.add_argument("--model", required=required, help="zoo model name (python -m topoact zoo ...)")
    if several_layers:
        p.add_argument("--layers", nargs="+", default=None, metavar="LAYER",
                       help="dotted module names (default: the model's default layers)")
    else:
        p.add_argument("--layer", default=None, help="dotted module name (default: the model's first default layer)")
    p.add_argument("--untrained", action="store_true", help="random weights (the control)")
    p.add_argument("--checkpoint", default=None, help="local weights file or folder")
    p.add_argument("--no-predictions", action="store_true",
                   help="skip the model head (stops the pass after the last layer)")
    p.add_argument("--nonfinite", default="raise", help=f"{' or '.join(NONFINITE_POLICIES)} NaN/Inf vectors")
    add_data_arguments(p, required=required)


def add_data_arguments(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Arguments that say which inputs and how (dataset, sampling, limit, seed, device, cache).

    Part of :func:`add_source_arguments`; ``compare`` names several models itself.
    """
    p.add_argument("--dataset", required=required, help="zoo dataset name")
    p.add_argument("--dataset-path", default=None, help="folder or file for datasets that need one")
    p.add_argument("--sampling", default=None,
                   help=f"image: {', '.join(IMAGE_SAMPLINGS)} (default random_position); "
                   f"text: {', '.join(TEXT_SAMPLINGS)} (default random_token)")
    p.add_argument("--max-positions", type=int, default=16,
                   help="vectors per sample for all_positions / all_tokens (default 16)")
    p.add_argument("--limit", type=int, default=None, help="a seeded random subset of N samples")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu",
                   help="cpu or cuda (default cpu); with --engine ray also auto (GPU actors when the cluster has GPUs)")
    p.add_argument("--cache", default=None, metavar="PATH", help="cache file (default: the topoact cache)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def check_data_args(args: argparse.Namespace) -> None:
    """Range checks of :func:`add_data_arguments`' values (ValueError with the flag's name)."""
    if args.sampling is not None and args.sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {args.sampling!r}; valid: {', '.join(SAMPLINGS)}")
    if args.max_positions < 1:
        raise ValueError(f"--max-positions must be >= 1, got {args.max_positions}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if getattr(args, "engine", "local") == "ray":
        from topoact.distributed.extract import DEVICES

        if args.device not in DEVICES:
            raise ValueError(f"unknown --device {args.device!r} for --engine ray; valid: {', '.join(DEVICES)}")
        return  # the cluster's GPUs are checked when the actors are placed
    from topoact.extract.extractor import resolve_device

    resolve_device(args.device)


def _check_args(args: argparse.Namespace) -> None:
    check_data_args(args)
    if args.nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"unknown --nonfinite {args.nonfinite!r}; valid: {', '.join(NONFINITE_POLICIES)}")
    if args.untrained and args.checkpoint:
        raise ValueError("--untrained and --checkpoint exclude each other")


def run(args: argparse.Namespace) -> int:
    """Run ``extract`` with parsed arguments; returns the exit code."""
    if args.out is not None and Path(args.out).suffix not in (".npy", ".npz"):
        raise ValueError(f"--out must end in .npy or .npz, got {args.out}")
    with session_from_args(args):
        sets = activations_from_args(args, args.layers)
    written = _write_out(args.out, sets) if args.out else {}
    for layer, acts in sets.items():
        print(json.dumps(summary(acts, written.get(layer))), flush=True)
    return 0


def activations_from_args(args: argparse.Namespace, layers: list[str] | None) -> dict[str, ActivationSet]:
    """Activation sets named by :func:`add_source_arguments`' arguments (cached or extracted)."""
    _check_args(args)
    from topoact.workflow import ExtractionSpec, get_or_extract

    engine = engine_from_args(args)
    try:
        spec = ExtractionSpec(
            args.model, args.dataset, layers, limit=args.limit, sampling=args.sampling,
            max_positions=args.max_positions, seed=args.seed, predictions=not args.no_predictions,
            nonfinite=args.nonfinite, weights="untrained" if args.untrained else "pretrained",
            checkpoint=args.checkpoint, dataset_path=args.dataset_path, batch_size=args.batch_size,
            device=args.device,
        ).loaded(device=args.device if engine is None else "cpu")  # Ray actors place their own copies
    except (KeyError, LookupError) as exc:
        raise TopoactError(str(exc.args[0]) if exc.args else str(exc)) from exc

    store = None
    if not args.no_cache:
        from topoact.cache import Store

        store = Store(args.cache)
    try:
        with ProgressBar(disable=args.quiet) as progress:
            return get_or_extract(spec, store=store, progress=progress, engine=engine or "local")
    finally:
        if store is not None:
            store.close()


def summary(acts: ActivationSet, out: str | None = None) -> dict[str, Any]:
    """One-line description of an activation set (what the CLI prints)."""
    meta = acts.meta
    samples = np.unique(acts.sample_index)
    first = np.unique(acts.sample_index, return_index=True)[1]
    labelled = (acts.label[first] >= 0) & (acts.prediction[first] >= 0)
    accuracy = (
        round(float((acts.label[first][labelled] == acts.prediction[first][labelled]).mean()), 4)
        if labelled.any() else None
    )
    line: dict[str, Any] = {
        "layer": acts.layer,
        "rows": acts.n_rows,
        "dim": acts.dim,
        "samples": int(samples.size),
        "layer_shape": meta.get("layer_shape"),
        "model": meta.get("model"),
        "dataset": meta.get("dataset"),
        "sampling": meta.get("sampling"),
        "seed": meta.get("seed"),
        "accuracy": accuracy,
        "dropped_nonfinite": meta.get("dropped_nonfinite", 0),
        "cached": meta.get("cached", False),
    }
    if out:
        line["out"] = out
    return line


def _write_out(path: str, sets: dict[str, ActivationSet]) -> dict[str, str]:
    """Write vectors (.npy) or every column (.npz); return layer -> file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".npz":
        arrays: dict[str, np.ndarray] = {}
        for layer, acts in sets.items():
            for col in ("vectors", "sample_index", "position", "label", "prediction", "confidence"):
                arrays[f"{layer}.{col}"] = getattr(acts, col)
            arrays[f"{layer}.meta"] = np.array(json.dumps(acts.meta))
        np.savez(target, **arrays)
        return {layer: str(target) for layer in sets}
    written = {}
    for layer, acts in sets.items():
        file = target if len(sets) == 1 else target.with_name(f"{target.stem}.{layer}.npy")
        np.save(file, acts.vectors)
        written[layer] = str(file)
    return written

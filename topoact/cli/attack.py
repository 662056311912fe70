"""``python -m topoact attack``: make perturbed datasets (FGSM, PGD, noise) of a zoo model and dataset.

Each set becomes an ordinary zoo dataset (``adv:DATASET:MODEL:ATTACK:EPS:sSEED``) that
every other command and the dashboard take by name.
"""

from __future__ import annotations

import argparse

from topoact import TopoactError
from topoact.cli.progress import ProgressBar


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``attack`` command."""
    parser = subparsers.add_parser(
        "attack",
        help="make adversarial (FGSM, PGD) and random-noise versions of an image dataset",
        description="Perturb an image dataset against a zoo model (L-inf, untargeted, away from the model's own "
        "prediction) and keep each set as a zoo dataset named adv:DATASET:MODEL:ATTACK:EPS:sSEED[:nLIMIT]. "
        "Prints one row per set: accuracy and the share of flipped predictions.",
    )
    add_attack_arguments(parser)
    parser.add_argument("--attacks", nargs="+", default=["fgsm", "pgd", "noise"], metavar="ATTACK",
                        help="fgsm, pgd and/or noise (the control) (default: all three)")
    parser.set_defaults(func=run)
    return parser


def add_attack_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``attack`` and ``robustness``: model, dataset, strengths, subset, seed."""
    parser.add_argument("--model", required=True, help="an image classifier of the zoo (e.g. digits_cnn)")
    parser.add_argument("--dataset", required=True, help="an image dataset of the zoo (e.g. digits)")
    parser.add_argument("--strengths", nargs="+", default=None, metavar="EPS",
                        help="L-inf radii as fractions of the pixel range, e.g. 0.05 0.1 or 4/255 8/255 "
                        "(default 0.02 0.05 0.1 0.2); each in [1/255, 1]")
    parser.add_argument("--limit", type=int, default=None, help="perturb a seeded random subset of N samples")
    parser.add_argument("--seed", type=int, default=0, help="seeds the subset, PGD's random start and the noise")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def strengths_from_args(args: argparse.Namespace) -> tuple[float, ...]:
    """The ``--strengths`` as floats (checked; ``8/255`` allowed)."""
    from topoact.robustness.report import DEFAULT_STRENGTHS
    from zoo.perturbed import parse_strength

    if args.strengths is None:
        return DEFAULT_STRENGTHS
    return tuple(sorted({parse_strength(text) for text in args.strengths}))


def check_common(args: argparse.Namespace) -> None:
    """Range checks worded with the flag names."""
    if args.limit is not None and args.limit < 1:
        raise TopoactError(f"--limit must be at least 1; got {args.limit}")
    if args.seed < 0:
        raise TopoactError(f"--seed must be >= 0; got {args.seed}")


def run(args: argparse.Namespace) -> int:
    """Make (or read) every requested perturbed set and print what each does to the model."""
    import pandas as pd

    from zoo.perturbed import ATTACKS

    check_common(args)
    unknown = [a for a in args.attacks if a not in ATTACKS]
    if unknown:
        raise TopoactError(f"unknown attack {unknown[0]!r}; valid attacks: {', '.join(ATTACKS)}")
    strengths = strengths_from_args(args)
    import zoo
    from zoo.perturbed import check_attackable, perturb

    check_attackable(zoo.get(args.model), zoo.get_dataset(args.dataset))  # before loading anything
    model = zoo.load_model(args.model)
    dataset = zoo.load_dataset(args.dataset)
    jobs = [(attack, eps) for attack in dict.fromkeys(args.attacks) for eps in strengths]
    rows = []
    with ProgressBar(disable=args.quiet) as progress:
        for i, (attack, eps) in enumerate(jobs):
            made = perturb(model, dataset, attack, eps, seed=args.seed, limit=args.limit,
                           progress=lambda f, m, i=i: progress((i + f) / len(jobs), m))
            rows.append({"dataset": made.name, "attack": attack, "strength": round(eps, 6), "levels": made.levels,
                         "clean_accuracy": made.accuracy(clean=True), "accuracy": made.accuracy(),
                         "flipped": float(made.flipped.mean()), "samples": len(made), "cached": made.from_cache})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_colwidth", 80):
        print(table.round(4).to_string(index=False))
    return 0

"""Command-line flags derived from an estimator's parameters: one default, one range, one message.

The Mapper parameters are written once, in :class:`topoact.mapper.Mapper` (its
``_parameter_constraints`` and ``get_params()``). :func:`add_mapper_arguments` turns them
into flags for every command that builds a graph, and :func:`mapper_params` checks the
values against the same constraints, so a default or a range changed in ``Mapper`` changes
every command. A value out of range is one line: ``--FLAG must be RANGE; got VALUE``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from typing import Any

from sklearn.utils._param_validation import Interval, StrOptions

from topoact import TopoactError
from topoact.mapper.builder import Mapper
from topoact.mapper.lens import LENSES
from topoact.mapper.scale import EPS_RULES

__all__ = ["MAPPER_FLAGS", "add_mapper_arguments", "describe", "mapper_params", "parse_value"]

#: Mapper parameter -> (flag, help without the default). The order is ``--help``'s.
MAPPER_FLAGS: dict[str, tuple[str, str]] = {
    "lens": ("--lens", f"lens: {', '.join(LENSES)}; two names separated by a comma make a 2-D lens"),
    "n_intervals": ("--intervals", "intervals per lens dimension (auto: Carrière-Michel-Oudot's rule, 1-D lenses)"),
    "overlap": ("--overlap", "fraction shared by neighbouring intervals"),
    "cover": ("--cover", "cover of the lens range"),
    "eps": ("--eps", "DBSCAN radius, or the rule that chooses it"),
    "eps_quantile": ("--eps-quantile", "quantile of the k-NN distance used by --eps auto"),
    "min_samples": ("--min-samples", "DBSCAN min_samples"),
    "clusterer": ("--clusterer", "clusterer in every cover element"),
    "min_cluster_size": ("--min-cluster-size", "HDBSCAN's smallest cluster (--clusterer hdbscan)"),
    "metric": ("--metric", "distance between activation vectors"),
    "min_intersection": ("--min-intersection", "shared members an edge needs"),
    "n_jobs": ("--jobs", "parallel workers (-1: all cores; processes for large inputs)"),
}

#: The order in which the valid names of a parameter are listed (else alphabetical).
NAME_ORDER: dict[str, tuple[str, ...]] = {"eps": tuple(EPS_RULES)}

#: The flags of a command that builds its graph with the estimator's own lens and eps rule.
COVER_AND_DENSITY = ("n_intervals", "overlap", "min_samples")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def describe(constraint: Any, order: Sequence[str] = ()) -> str | None:
    """A scikit-learn parameter constraint in words (None for one a flag cannot take).

    ``order``: how to list a constraint's names (names not in it follow alphabetically).
    """
    if isinstance(constraint, StrOptions):
        rank = {name: i for i, name in enumerate(order)}
        options = sorted((o for o in constraint.options if o not in constraint.deprecated),
                         key=lambda o: (rank.get(o, len(rank)), o))
        return options[0] if len(options) == 1 else "one of " + ", ".join(options)
    if isinstance(constraint, Interval):
        integer = constraint.type is Integral
        left, right = constraint.left, constraint.right
        if right is None or right == math.inf:
            if left is None:
                return "an integer" if integer else "a number"
            if constraint.closed in ("left", "both"):
                return f"at least {_number(left)}"
            return "a positive number" if left == 0 and not integer else f"greater than {_number(left)}"
        low = "(-inf" if left is None else ("[" if constraint.closed in ("left", "both") else "(") + _number(left)
        high = _number(right) + ("]" if constraint.closed in ("right", "both") else ")")
        return f"{'an integer' if integer else ''} in {low}, {high}".strip()
    if constraint is Integral:
        return "an integer"
    return None


def _usable(constraints: Sequence[Any], numeric_only: bool) -> list[Any]:
    return [c for c in constraints if describe(c) is not None and not (numeric_only and isinstance(c, StrOptions))]


def parse_value(flag: str, value: Any, constraints: Sequence[Any], order: Sequence[str] = ()) -> Any:
    """``value`` (a string from the command line, or a default) as the first constraint it satisfies.

    Raises
    ------
    TopoactError
        One line naming the flag, the valid values and what was given.
    """
    text = value if isinstance(value, str) else None
    for constraint in constraints:
        if isinstance(constraint, StrOptions):
            if isinstance(value, str) and constraint.is_satisfied_by(value):
                return value
            continue
        integer = constraint is Integral or (isinstance(constraint, Interval) and constraint.type is Integral)
        candidate = value
        if text is not None:
            try:
                candidate = int(text) if integer else float(text)
            except ValueError:
                continue
        if isinstance(candidate, bool) or not isinstance(candidate, Integral if integer else Real):
            continue
        if not integer and not math.isfinite(candidate):
            continue
        if constraint is Integral or constraint.is_satisfied_by(candidate):
            return candidate
    valid = " or ".join(describe(c, order) for c in constraints)
    raise TopoactError(f"{flag} must be {valid}; got {value}")


def add_mapper_arguments(parser, names: Iterable[str] | None = None, *, numeric_only: Iterable[str] = ()) -> None:
    """Add the Mapper flags named by ``names`` (default: all of :data:`MAPPER_FLAGS`).

    Defaults are ``Mapper().get_params()``; valid values are ``Mapper``'s constraints, in
    the help and in :func:`mapper_params`. ``numeric_only`` names parameters this command
    takes as numbers only (its string rules, such as ``--intervals auto``, do not apply).
    """
    names = list(MAPPER_FLAGS if names is None else names)
    numeric_only = set(numeric_only)
    defaults = Mapper().get_params(deep=False)
    for name in names:
        flag, text = MAPPER_FLAGS[name]
        constraints = _usable(Mapper._parameter_constraints[name], name in numeric_only)
        valid = " or ".join(describe(c, NAME_ORDER.get(name, ())) for c in constraints) if constraints else None
        default = defaults[name]
        if name in numeric_only:
            text = text.split(" (")[0]
        help_text = f"{text}; {valid}" if valid else text
        parser.add_argument(flag, default=default, metavar=flag.lstrip("-").upper().replace("-", "_"),
                            help=f"{help_text} (default {default})")
    # an argument group shares its parser's defaults
    previous = parser.get_default("_mapper_flags") or ()
    parser.set_defaults(_mapper_flags=(*previous, *names), _mapper_numeric_only=tuple(numeric_only))


def mapper_params(args: argparse.Namespace) -> dict[str, Any]:
    """The Mapper keyword arguments the command's flags give, each checked against ``Mapper``'s constraints.

    The checked values replace the strings on ``args`` (``args.intervals`` is then an int
    or ``'auto'``).

    Raises
    ------
    TopoactError
        For the first value out of its range (one line).
    """
    numeric_only = set(getattr(args, "_mapper_numeric_only", ()))
    params: dict[str, Any] = {}
    for name in getattr(args, "_mapper_flags", ()):
        flag, _ = MAPPER_FLAGS[name]
        dest = flag.lstrip("-").replace("-", "_")
        value = getattr(args, dest)
        if name == "lens":  # names (checked by the Mapper, which lists them)
            params[name] = value.split(",") if "," in str(value) else value
            continue
        constraints = _usable(Mapper._parameter_constraints[name], name in numeric_only)
        if value is None and None in Mapper._parameter_constraints[name]:
            params[name] = None
            continue
        params[name] = parse_value(flag, value, constraints, NAME_ORDER.get(name, ()))
        setattr(args, dest, params[name])
    return params

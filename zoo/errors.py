"""User-facing errors of the zoo and a helper that lists valid names, closest first."""

from __future__ import annotations

import difflib
from typing import Iterable


class ZooError(ValueError):
    """A user error (unknown name, missing file, unreachable hub, ...).

    The CLI prints the message as one line and exits with status 2.
    """


def names_closest_first(wanted: str, valid: Iterable[str]) -> list[str]:
    """Return ``valid`` ordered with the names most similar to ``wanted`` first.

    Parameters
    ----------
    wanted : str
        The name the user asked for.
    valid : iterable of str
        Every accepted name.

    Returns
    -------
    list of str
        The close matches (by :func:`difflib.get_close_matches`, best first), then the
        remaining names in sorted order.
    """
    valid = sorted(set(valid))
    lowered = {name.lower(): name for name in valid}
    close = [lowered[m] for m in difflib.get_close_matches(wanted.lower(), list(lowered), n=5, cutoff=0.4)]
    prefixed = [name for name in valid if wanted and wanted.lower() in name.lower() and name not in close]
    head = close + prefixed
    return head + [name for name in valid if name not in head]


def unknown_name_error(kind: str, wanted: str, valid: Iterable[str], limit: int = 40) -> ZooError:
    """Build the one-line error for an unknown ``kind`` name listing the valid ones.

    Parameters
    ----------
    kind : str
        What was looked up, e.g. ``"model"``, ``"dataset"``, ``"layer"``.
    wanted : str
        The unknown name.
    valid : iterable of str
        The accepted names.
    limit : int
        At most this many names are listed; the rest are counted.
    """
    ordered = names_closest_first(wanted, valid)
    shown = ", ".join(ordered[:limit])
    more = f" (and {len(ordered) - limit} more)" if len(ordered) > limit else ""
    return ZooError(f"unknown {kind} {wanted!r}; valid {kind}s: {shown}{more}")

"""Content-hash cache keys.

A key is the SHA-256 of the canonical JSON of everything that determines a result
(model and weights hash, dataset and content hash, layer, sampling, seed, ...) together
with the topoact version and the cache schema version, so that a change in any input,
or an upgrade of the code, gives a different key and never a stale hit.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import topoact

from topoact.cache.schema import SCHEMA_VERSION

_SCALARS = (str, int, bool, type(None))


def _check_jsonable(value: Any, where: str) -> None:
    """Raise TypeError naming ``where`` unless ``value`` is plain, finite JSON."""
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"cache_key part {where!r} is {value!r}; only finite floats are allowed")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_jsonable(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"cache_key part {where!r} has a key {k!r} of type {type(k).__name__}; "
                    "dictionary keys must be str"
                )
            _check_jsonable(item, f"{where}.{k}")
        return
    hint = " (convert NumPy scalars with .item())" if hasattr(value, "item") else ""
    raise TypeError(
        f"cache_key part {where!r} has type {type(value).__name__}, which is not JSON; "
        f"use str, int, float, bool, None, list or dict{hint}"
    )


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of ``value`` (sorted keys, no spaces, finite numbers).

    Parameters
    ----------
    value : JSON-able
        str, int, float, bool, None, and lists/tuples/dicts (str keys) of those.

    Returns
    -------
    str
        Text that is equal for equal values, independent of dictionary order.

    Raises
    ------
    TypeError
        If ``value`` holds anything else (NumPy scalars, paths, NaN, non-str keys ...).
    """
    _check_jsonable(value, "<value>")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def cache_key(**parts: Any) -> str:
    """Return the content-hash key of a cached result.

    Parameters
    ----------
    **parts
        Everything that determines the result, as JSON-able values, e.g.
        ``model="timm:mobilenetv2_100", weights_sha256="...", dataset="digits",
        data_sha256="...", layer="blocks.3", sampling={"kind": "mean"}, seed=0``.
        Order does not matter; tuples and lists are the same.

    Returns
    -------
    str
        64 lowercase hex digits: SHA-256 of the canonical JSON of ``parts`` plus
        ``topoact.__version__`` and the cache schema version.

    Raises
    ------
    TypeError
        If a part is not plain JSON (the message names the part).
    ValueError
        If no part is given.
    """
    if not parts:
        raise ValueError("cache_key needs at least one part")
    for name, value in parts.items():
        _check_jsonable(value, name)
    document = {"parts": parts, "topoact": topoact.__version__, "schema": SCHEMA_VERSION}
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()

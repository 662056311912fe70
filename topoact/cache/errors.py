"""Errors raised by the cache; all are :class:`topoact.TopoactError`, so the CLI prints one line."""

from __future__ import annotations

from topoact import TopoactError

REBUILD_HINT = (
    "rebuild it with `python -m topoact cache clear --all` or `Store(path).rebuild()` "
    "(the bad file is moved aside to <name>.corrupt-<timestamp>, nothing is deleted)"
)


class CacheError(TopoactError):
    """Something went wrong with the activation cache; the message says what and what to do."""


class CacheLockedError(CacheError):
    """Another process held the cache file for longer than the lock timeout."""


class CacheCorruptError(CacheError):
    """The cache file is not a DuckDB database, is damaged, or has an incompatible schema."""


class CacheKeyError(CacheError):
    """No cache entry has the given key (or prefix), or several have the prefix."""

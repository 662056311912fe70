"""Removing single cache entries (with what was derived from them) and orphaned vector/shard files."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from topoact.cache.errors import CacheKeyError
from topoact.cache.files import VectorFiles
from topoact.cache.index import ACTIVATIONS, GRAPH, RUNS

#: The ``meta`` fields through which an entry names the entry it was derived from, by the
#: parent's kind: a graph names its activations, scores and metric rows name their graph.
DERIVED_FROM = {ACTIVATIONS: "activations_key", GRAPH: "graph_key"}
#: How many candidate keys an error message lists.
_LISTED = 10


@dataclass(frozen=True)
class SweepResult:
    """What :meth:`Store.sweep` removed (or, with ``dry_run``, would remove).

    Attributes
    ----------
    files : list of Path
        Orphaned ``.npy`` vector files and Parquet shard files.
    folders : list of Path
        Shard folders that held only orphans (or nothing).
    n_bytes : int
        The size of ``files``.
    dry_run : bool
        True when nothing was removed.
    """

    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    n_bytes: int = 0
    dry_run: bool = False


class Cleanup(VectorFiles):
    """Per-entry delete and the sweep of orphaned files (a part of :class:`~topoact.cache.Store`)."""

    def delete(self, kind: str, key: str) -> list[dict[str, str]]:
        """Remove one entry, the entries derived from it, and the files they owned.

        Derived entries are found through their ``meta``: the graphs of deleted
        activations (``meta['activations_key']``), then the tables (anomaly scores,
        metric rows) and images of deleted graphs (``meta['graph_key']``).

        Parameters
        ----------
        kind : str
            ``"activations"``, ``"graph"`` or a table/image kind, as :meth:`list_entries` shows.
        key : str
            The entry's key or a prefix of it that only one entry of ``kind`` has (like a
            git commit id; ``cache list`` shows the first 12 characters).

        Returns
        -------
        list of dict
            ``kind`` and full ``key`` of each removed entry, the one asked for first.

        Raises
        ------
        CacheKeyError
            No entry of ``kind`` has that key or prefix, or several do (the message lists
            the candidates).
        CacheError
            A read-only store, a locked or damaged file (nothing is removed then).
        """
        if not isinstance(kind, str) or not kind or kind == RUNS:
            raise CacheKeyError(f"entry kind must be a non-empty str other than {RUNS!r}, got {kind!r}")
        if not isinstance(key, str) or not key:
            raise CacheKeyError(f"key must be a non-empty str (a key or a unique prefix), got {key!r}")
        files: list[Path] = []
        with self._writing() as con:
            entries = con.execute("SELECT kind, key, meta FROM entries").fetchall()
            target = (kind, self._resolve_key(entries, kind, key))
            removed = [target]
            parents = {target}
            while parents:  # follow the meta links down, level by level
                children = [
                    (entry_kind, entry_key) for entry_kind, entry_key, meta in entries
                    if (entry_kind, entry_key) not in removed and any(
                        json.loads(meta).get(DERIVED_FROM[parent_kind]) == parent_key
                        for parent_kind, parent_key in parents if parent_kind in DERIVED_FROM)
                ]
                removed += children
                parents = set(children)
            for entry_kind, entry_key in removed:
                files += self._drop_entry(con, entry_kind, entry_key)
        self._delete_files(files)
        return [{"kind": entry_kind, "key": entry_key} for entry_kind, entry_key in removed]

    def _resolve_key(self, entries: list[tuple], kind: str, key: str) -> str:
        """The full key of the one entry of ``kind`` whose key is ``key`` or starts with it."""
        keys = sorted(entry_key for entry_kind, entry_key, _ in entries if entry_kind == kind)
        if key in keys:
            return key
        matches = [entry_key for entry_key in keys if entry_key.startswith(key)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise CacheKeyError(
                f"key prefix {key!r} is ambiguous: {len(matches)} {kind} entries in {self.path} start "
                f"with it ({_listing(matches)}); give more characters"
            )
        if keys:
            raise CacheKeyError(f"no {kind} entry with key {key!r} in {self.path}; {kind} entries: {_listing(keys)}")
        kinds = sorted({entry_kind for entry_kind, _, _ in entries})
        raise CacheKeyError(
            f"no {kind} entries in {self.path}; kinds stored: {', '.join(kinds) if kinds else 'none'}"
        )

    def sweep(self, older_than: float = 3600, dry_run: bool = False) -> SweepResult:
        """Remove ``.npy`` vector files and Parquet shards that no entry references.

        Such orphans are left by a process killed between writing a file and committing
        its entry, or by a crash between a commit and the removal of a replaced entry's
        files. Files younger than ``older_than`` seconds are kept: a concurrent writer
        writes its file before the transaction that references it.

        Parameters
        ----------
        older_than : float, default 3600
            Only files (and folders) last modified at least this many seconds ago.
        dry_run : bool, default False
            Only report what would be removed.

        Returns
        -------
        SweepResult

        Raises
        ------
        ValueError
            A negative or non-numeric ``older_than``.
        CacheError
            A read-only store without ``dry_run``; a locked or damaged file.
        """
        if isinstance(older_than, bool) or not isinstance(older_than, (int, float)) or not older_than >= 0:
            raise ValueError(f"older_than must be a number of seconds >= 0, got {older_than!r}")
        if not dry_run:
            self._check_writable()
        cutoff = time.time() - float(older_than)
        # A read connection keeps writers from committing new references while we look and remove.
        with self._reading() as con:
            vector_refs = {row[0] for row in con.execute("SELECT file FROM vector_files").fetchall()} if con else set()
            shard_refs = {row[0] for row in con.execute("SELECT file FROM parquet_files").fetchall()} if con else set()
            owned = {self._shard_path(ref).resolve() for ref in shard_refs if self._owns_shard(ref)}
            orphans = [file for file in _files(self.vector_dir) if file.name not in vector_refs]
            orphans += [file for file in _files(self.shard_dir) if file.resolve() not in owned]
            orphans = [file for file in orphans if _mtime(file) <= cutoff]
            folders = _emptied_folders(self.shard_dir, set(orphans), cutoff)
            n_bytes = sum(_size(file) for file in orphans)
            if not dry_run:
                for file in orphans:
                    file.unlink(missing_ok=True)
                for folder in folders:
                    shutil.rmtree(folder, ignore_errors=True)
        return SweepResult(sorted(orphans), folders, n_bytes, bool(dry_run))


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return shown + (f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else "")


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")  # gone already: never counted


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _emptied_folders(root: Path, removed: set[Path], cutoff: float) -> list[Path]:
    """The topmost folders below ``root`` that hold nothing but ``removed`` files (old enough)."""
    if not root.is_dir():
        return []
    folders = sorted((path for path in root.rglob("*") if path.is_dir()), key=lambda p: len(p.parts))
    emptied: list[Path] = []
    for folder in folders:
        if any(parent in emptied for parent in folder.parents):
            continue
        inside = list(folder.rglob("*"))
        if all(path in removed or (path.is_dir() and _mtime(path) <= cutoff) for path in inside) \
                and _mtime(folder) <= cutoff:
            emptied.append(folder)
    return emptied

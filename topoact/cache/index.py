"""The entries index of the cache: connections, transactions and the rows that make entries visible.

:class:`StoreIndex` is the base of :class:`topoact.cache.Store`: it opens the short-lived
DuckDB connections (:meth:`StoreIndex._reading`, :meth:`StoreIndex._writing`), writes and
drops index rows, and lists what is stored. The other parts of the store (``files``,
``activation_entries``, ``result_entries``, ``image_entries``, ``maintenance``) build on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Self

import duckdb

import topoact
from topoact.cache.connection import open_connection, process_lock, translate
from topoact.cache.errors import CacheError
from topoact.cache.paths import default_cache_path
from topoact.cache.schema import CacheUpgradeNeeded, check_schema, user_tables

#: Entry kinds the store manages itself; :meth:`Store.put_table` and
#: :meth:`Store.put_images` take any other name.
ACTIVATIONS = "activations"
GRAPH = "graph"
RUNS = "runs"
_RESERVED_KINDS = frozenset({ACTIVATIONS, GRAPH, RUNS})
#: Prefix of the ``table_name`` of an activation set kept as Parquet shards (no DuckDB table).
PARQUET_PREFIX = "pq_"
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

#: DuckDB compression for activation tables. Activations are dense floats that DuckDB's
#: float codecs shrink little (about 25 % for ReLU outputs), while decompressing them
#: costs a third of the read-back time; the cache favours reading.
ACTIVATION_COMPRESSION = "uncompressed"


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"cache key must be a non-empty str, got {key!r}")
    return key


def _check_table_kind(kind: str) -> str:
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise ValueError(
            f"table kind must be lowercase letters, digits and '_' starting with a letter, got {kind!r}"
        )
    if kind in _RESERVED_KINDS:
        raise ValueError(f"table kind {kind!r} is reserved; use another name (e.g. 'anomaly_scores')")
    return kind


def _table_name(prefix: str, kind: str, key: str) -> str:
    """Return the SQL identifier of the table holding entry (kind, key): hex only, safe to quote."""
    digest = hashlib.sha256(f"{kind}\x00{key}".encode()).hexdigest()[:32]
    return f"{prefix}_{digest}"


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)

class StoreIndex:
    """Connections, transactions and the entries index of a :class:`~topoact.cache.Store`."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        lock_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.read_only = bool(read_only)
        self.lock_timeout = float(lock_timeout)
        self.lock_waits = 0
        self._closed = False

    # ----------------------------------------------------------------- plumbing
    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"Store({str(self.path)!r}, {mode})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Mark the store closed; later operations raise :class:`CacheError`."""
        self._closed = True

    def _check_writable(self) -> None:
        if self.read_only:
            raise CacheError(f"{self!r} is read-only; open it with read_only=False to write")

    def _count_wait(self, _exc: BaseException) -> None:
        self.lock_waits += 1

    def _open(self, *, write: bool) -> duckdb.DuckDBPyConnection:
        return open_connection(
            self.path, read_only=not write, lock_timeout=self.lock_timeout, on_wait=self._count_wait
        )

    @contextmanager
    def _reading(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """Yield a read-only connection to a valid cache, or None when there is no cache yet."""
        if self._closed:
            raise CacheError(f"{self!r} is closed")
        with process_lock(self.path):
            if not self.path.exists():
                yield None
                return
            con = self._open(write=False)
            try:
                try:
                    ready = check_schema(con, self.path, create=False)
                except CacheUpgradeNeeded:
                    if self.read_only:
                        raise
                    con.close()  # an older layout: upgrade it once, then read
                    self._upgrade_in_place()
                    con = self._open(write=False)
                    ready = check_schema(con, self.path, create=False)
                except duckdb.Error as exc:
                    raise translate(exc, self.path, "read") from exc
                try:
                    yield con if ready else None
                except duckdb.Error as exc:
                    raise translate(exc, self.path, "read") from exc
            finally:
                con.close()

    def _upgrade_in_place(self) -> None:
        """Bring an older cache layout up to date (the caller holds the process lock)."""
        con = self._open(write=True)
        try:
            check_schema(con, self.path, create=True)
        except duckdb.Error as exc:
            raise translate(exc, self.path, "write") from exc
        finally:
            con.close()

    @contextmanager
    def _writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a read-write connection inside one transaction; commit on success, else roll back."""
        if self._closed:
            raise CacheError(f"{self!r} is closed")
        if self.read_only:
            raise CacheError(f"{self!r} is read-only; open it with read_only=False to write")
        with process_lock(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = self._open(write=True)
            try:
                try:
                    check_schema(con, self.path, create=True)
                    con.execute("BEGIN TRANSACTION")
                except duckdb.Error as exc:
                    raise translate(exc, self.path, "write") from exc
                try:
                    yield con
                    con.execute("COMMIT")
                except BaseException as exc:
                    try:
                        con.execute("ROLLBACK")
                    except duckdb.Error:
                        pass  # the failed statement already ended the transaction
                    if isinstance(exc, duckdb.Error):
                        raise translate(exc, self.path, "write") from exc
                    raise
            finally:
                con.close()


    @staticmethod
    def _write_index_row(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
        """Insert the index row that makes an entry visible (the last statement of a put)."""
        con.execute(
            "INSERT INTO entries (kind, key, table_name, layer, meta, n_rows, dim, n_bytes, "
            "arrow_schema, topoact_version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                row["kind"], row["key"], row.get("table_name"), row.get("layer"), row["meta"],
                row.get("n_rows"), row.get("dim"), row["n_bytes"], row.get("arrow_schema"),
                topoact.__version__, time.time(),
            ],
        )


    def _entry(self, con: duckdb.DuckDBPyConnection, kind: str, key: str) -> tuple | None:
        rows = con.execute(
            "SELECT table_name, layer, meta, n_rows, dim, arrow_schema FROM entries "
            "WHERE kind = ? AND key = ?",
            [kind, key],
        ).fetchall()
        return rows[0] if rows else None


    def _has(self, kind: str, key: str) -> bool:
        with self._reading() as con:
            return con is not None and self._entry(con, kind, key) is not None


    def _drop_entry(self, con: duckdb.DuckDBPyConnection, kind: str, key: str) -> list[Path]:
        """Remove entry (kind, key) and its table, inside the caller's transaction.

        Returns the files the entry owned (its vector file, the Parquet shards in the
        store's shard folder); delete them once the transaction has committed
        (:meth:`_delete_files`), never before. Shards elsewhere are not the cache's.
        """
        rows = con.execute(
            "SELECT table_name FROM entries WHERE kind = ? AND key = ?", [kind, key]
        ).fetchall()
        existing = user_tables(con)
        files: list[str] = []
        for (table_name,) in rows:
            if table_name and table_name in existing:
                con.execute(f'DROP TABLE "{table_name}"')
            if table_name:
                found = con.execute(
                    "SELECT file FROM vector_files WHERE table_name = ?", [table_name]
                ).fetchall()
                files += [self.vector_dir / Path(file).name for (file,) in found]
                con.execute("DELETE FROM vector_files WHERE table_name = ?", [table_name])
                shards = con.execute(
                    "SELECT file FROM parquet_files WHERE table_name = ?", [table_name]
                ).fetchall()
                files += [self._shard_path(ref) for (ref,) in shards if self._owns_shard(ref)]
                con.execute("DELETE FROM parquet_files WHERE table_name = ?", [table_name])
        con.execute("DELETE FROM entries WHERE kind = ? AND key = ?", [kind, key])
        con.execute("DELETE FROM images WHERE kind = ? AND key = ?", [kind, key])
        if kind == GRAPH:
            con.execute("DELETE FROM graphs WHERE key = ?", [key])
        return files


    def list_entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Return one summary per cached result, newest first.

        Parameters
        ----------
        kind : str, optional
            Only entries of this kind (``"activations"``, ``"graph"`` or a table kind).

        Returns
        -------
        list of dict
            ``kind``, ``key``, ``layer``, ``meta`` (dict), ``rows``, ``dim``, ``bytes``
            (estimated payload size), ``topoact_version``, ``created`` (aware UTC datetime),
            ``storage`` (``"duckdb"``, or ``"parquet"`` for shards read in place).
        """
        with self._reading() as con:
            if con is None:
                return []
            rows = con.execute(
                "SELECT kind, key, layer, meta, n_rows, dim, n_bytes, topoact_version, created, table_name "
                "FROM entries WHERE (CAST(? AS VARCHAR) IS NULL OR kind = ?) "
                "ORDER BY created DESC, kind, key",
                [kind, kind],
            ).fetchall()
        return [
            {"kind": r[0], "key": r[1], "layer": r[2], "meta": json.loads(r[3]), "rows": r[4],
             "dim": r[5], "bytes": r[6], "topoact_version": r[7], "created": _utc(r[8]),
             "storage": "parquet" if (r[9] or "").startswith(PARQUET_PREFIX) else "duckdb"}
            for r in rows
        ]

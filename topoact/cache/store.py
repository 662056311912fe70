"""The DuckDB store of activations, Mapper graphs, result tables, images and run records."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

import topoact
from topoact.activations import ActivationSet
from topoact.cache import arrow_io, parquet
from topoact.cache.connection import open_connection, process_lock, translate
from topoact.cache.errors import CacheCorruptError, CacheError
from topoact.cache.keys import canonical_json
from topoact.cache.paths import default_cache_path
from topoact.cache.schema import CacheUpgradeNeeded, check_schema, user_tables

if TYPE_CHECKING:
    import pandas

#: The first bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

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


@dataclass(frozen=True)
class StoredImages:
    """The images of one entry, as :meth:`Store.get_images` returns them.

    Attributes
    ----------
    images : dict of str to bytes
        Name -> PNG bytes, in the order they were stored.
    meta : dict
        The entry's description, as given to :meth:`Store.put_images`.
    """

    images: dict[str, bytes] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


class Store:
    """The topoact cache: one DuckDB file shared by the dashboard, the CLI and Python.

    Every operation opens its own short-lived connection and closes it when done, so a
    dashboard and a CLI job can share the file: DuckDB allows one writing process at a
    time (and no reader while it writes), and an operation that finds the file locked
    retries with backoff for up to ``lock_timeout`` seconds. Writes are single
    transactions whose index row is written last; a write that fails or is killed leaves
    nothing behind.

    An activation set can also stay in Parquet shards (the Ray engine writes them, possibly
    on storage a cluster shares): :meth:`put_parquet_activations` registers them and
    :meth:`get_activations` reads them in place through DuckDB.

    Parameters
    ----------
    path : str or Path, optional
        The DuckDB file; default :func:`default_cache_path`. Its folder is created on
        the first write.
    read_only : bool, default False
        Never write; reads of a missing file return nothing.
    lock_timeout : float, default 30.0
        Seconds to wait for another process holding the file before raising
        :class:`CacheLockedError`.

    Attributes
    ----------
    path : Path
        The DuckDB file.
    lock_waits : int
        How many times an operation found the file locked and waited (diagnostics).

    Notes
    -----
    Usable with or without ``with``; :meth:`close` only marks the store closed (no
    connection stays open between calls). Opening the store does no I/O; :meth:`check`
    validates the file up front.
    """

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

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Mark the store closed; later operations raise :class:`CacheError`."""
        self._closed = True

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

    @property
    def vector_dir(self) -> Path:
        """Folder of the vectors' ``.npy`` copies: ``<cache file>.vectors``."""
        return self.path.with_name(self.path.name + ".vectors")

    @property
    def shard_dir(self) -> Path:
        """Folder of the Parquet shards the cache owns: ``<cache file>.shards``."""
        return self.path.with_name(self.path.name + ".shards")

    @staticmethod
    def _owns_shard(ref: str) -> bool:
        """A shard reference relative to :attr:`shard_dir` is the cache's own; an absolute one is not."""
        return not Path(ref).is_absolute()

    def _shard_path(self, ref: str) -> Path:
        return Path(ref) if Path(ref).is_absolute() else self.shard_dir / ref

    def _shard_ref(self, file: str | os.PathLike[str]) -> str:
        """How ``file`` is recorded: relative to :attr:`shard_dir` when inside it, else absolute."""
        path = Path(file).resolve()
        try:
            return path.relative_to(self.shard_dir.resolve()).as_posix()
        except ValueError:
            return str(path)

    def _delete_files(self, files: list[Path]) -> None:
        """Delete files a dropped entry owned, and shard folders left empty."""
        shard_root = self.shard_dir.resolve()
        for file in files:
            file.unlink(missing_ok=True)
            folder = file.parent.resolve()
            while folder != shard_root and shard_root in folder.parents:
                try:
                    folder.rmdir()  # only when empty
                except OSError:
                    break
                folder = folder.parent

    def _write_vector_file(self, table_name: str, vectors: np.ndarray) -> Path:
        """Write an immutable ``.npy`` copy of ``vectors`` under a fresh name (not yet referenced)."""
        self.vector_dir.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        target = self.vector_dir / f"{table_name}-{token}.npy"
        partial = self.vector_dir / f".partial-{token}.npy"
        try:
            with open(partial, "wb") as handle:
                np.save(handle, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return target

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

    def _put_arrow(
        self,
        kind: str,
        key: str,
        prefix: str,
        table: pa.Table,
        ddl: str | None,
        row: dict[str, Any],
        compression: str = "auto",
        vector_file: Path | None = None,
    ) -> None:
        """Store ``table`` as the table of entry (kind, key) and index it, in one transaction.

        ``vector_file`` (already written) is recorded in the same transaction; files of
        the replaced entry are deleted after the commit, and ``vector_file`` is deleted
        if the transaction fails.
        """
        table_name = _table_name(prefix, kind, key)
        view = f"topoact_src_{uuid.uuid4().hex}"
        try:
            old_files = self._put_arrow_transaction(kind, key, table_name, view, table, ddl, row,
                                                    compression, vector_file)
        except BaseException:
            if vector_file is not None:
                vector_file.unlink(missing_ok=True)
            raise
        self._delete_files(old_files)

    def _put_arrow_transaction(self, kind, key, table_name, view, table, ddl, row, compression, vector_file):
        with self._writing() as con:
            # applies to the checkpoint when this connection closes (settings are not data)
            con.execute(f"SET force_compression = '{compression}'")
            old_files = self._drop_entry(con, kind, key)
            con.register(view, table)
            try:
                if ddl is None:
                    con.execute(f'CREATE TABLE "{table_name}" AS SELECT * FROM "{view}"')
                else:
                    con.execute(ddl.replace("{table}", table_name))
                    con.execute(f'INSERT INTO "{table_name}" SELECT * FROM "{view}"')
            finally:
                con.unregister(view)
            if vector_file is not None:
                con.execute("INSERT INTO vector_files VALUES (?, ?)", [table_name, vector_file.name])
            self._write_index_row(con, {**row, "kind": kind, "key": key, "table_name": table_name})
        return old_files

    def _entry(self, con: duckdb.DuckDBPyConnection, kind: str, key: str) -> tuple | None:
        rows = con.execute(
            "SELECT table_name, layer, meta, n_rows, dim, arrow_schema FROM entries "
            "WHERE kind = ? AND key = ?",
            [kind, key],
        ).fetchall()
        return rows[0] if rows else None

    # -------------------------------------------------------------- activations
    def put_activations(self, key: str, acts: ActivationSet) -> None:
        """Store an activation set under ``key``, replacing any previous one, atomically.

        Parameters
        ----------
        key : str
            Cache key, normally from :func:`cache_key`.
        acts : ActivationSet
            Vectors (stored as ``FLOAT[dim]``), row metadata and ``meta`` (JSON-able).

        Raises
        ------
        TypeError
            If ``acts.meta`` is not plain JSON.
        ValueError
            If the width does not fit a DuckDB ``FLOAT[D]`` column.
        CacheError
            If the file is locked, damaged or the write fails (nothing is stored then).
        """
        _check_key(key)
        meta = canonical_json(acts.meta)
        table = arrow_io.activations_to_arrow(acts)
        row = {
            "layer": acts.layer,
            "meta": meta,
            "n_rows": acts.n_rows,
            "dim": acts.dim,
            "n_bytes": acts.n_rows * (acts.dim * 4 + arrow_io.ROW_META_BYTES),
        }
        ddl = arrow_io.create_table_sql("{table}", acts.dim)
        if self.read_only:
            raise CacheError(f"{self!r} is read-only; open it with read_only=False to write")
        vector_file = self._write_vector_file(_table_name("act", ACTIVATIONS, key), acts.vectors)
        self._put_arrow(ACTIVATIONS, key, "act", table, ddl, row, ACTIVATION_COMPRESSION, vector_file)

    def get_activations(self, key: str, *, copy: bool = False) -> ActivationSet | None:
        """Return the activation set stored under ``key``, or None on a miss.

        Parameters
        ----------
        key : str
            Cache key.
        copy : bool, default False
            Return writable arrays. By default the arrays are read-only, mostly zero-copy
            views of the Arrow buffers DuckDB filled (the fast path); copy them, or pass
            ``copy=True``, before modifying them in place.

        Returns
        -------
        ActivationSet or None
            Arrays equal bit for bit to those stored, and the stored ``meta``.
        """
        _check_key(key)
        with self._reading() as con:
            if con is None:
                return None
            entry = self._entry(con, ACTIVATIONS, key)
            if entry is None:
                return None
            table_name, layer, meta, n_rows, dim, _ = entry
            if table_name.startswith(PARQUET_PREFIX):
                vectors = None
                table = self._read_shards(con, key, table_name, int(n_rows), int(dim))
            else:
                # Fast path: the vectors' .npy copy (np.load speed), metadata from DuckDB.
                # The copy is read while this connection blocks writers, so it cannot be
                # replaced underneath; a missing or mismatched copy falls back to DuckDB.
                vectors = self._read_vector_file(con, table_name, int(n_rows), int(dim))
                query = arrow_io.select_sql(table_name, with_vectors=vectors is None)
                table = con.sql(query).to_arrow_table(max(int(n_rows), 1))
        try:
            arrays = arrow_io.read_activations(table, int(n_rows), int(dim), copy=copy, vectors=vectors)
        except ValueError as exc:
            raise CacheCorruptError(f"cache entry {key} in {self.path} is damaged: {exc}") from exc
        return ActivationSet(layer=layer, meta=json.loads(meta), **arrays)

    def put_parquet_activations(
        self, key: str, layer: str, files: Sequence[str | os.PathLike[str]], meta: dict
    ) -> None:
        """Register Parquet shards as the activation set under ``key``; the rows stay in the files.

        The shards (written with :func:`topoact.cache.parquet.write_shard`) are read in
        place by :meth:`get_activations`, in the order given. Shards inside
        :attr:`shard_dir` become the cache's (deleted with the entry); shards elsewhere,
        e.g. on storage a cluster shares, are only referenced.

        Parameters
        ----------
        key : str
            Cache key, normally from :func:`cache_key`.
        layer : str
            Dotted module name of the vectors.
        files : sequence of path-like
            The shards, in row order.
        meta : dict
            JSON-able description, as an :class:`ActivationSet`'s ``meta``.

        Raises
        ------
        ValueError
            No files, a file that is not an activation shard, or shards of different widths.
        CacheError
            If the file is locked, damaged or the write fails (nothing is registered then).
        """
        _check_key(key)
        if self.read_only:
            raise CacheError(f"{self!r} is read-only; open it with read_only=False to write")
        if not files:
            raise ValueError("put_parquet_activations needs at least one shard file")
        infos = [parquet.shard_info(file) for file in files]
        widths = sorted({info.dim for info in infos})
        if len(widths) != 1:
            raise ValueError(f"shards of one activation set must have one width, got {widths}")
        arrow_io.check_dim(widths[0])
        meta_text = canonical_json(meta)
        table_name = _table_name(PARQUET_PREFIX.rstrip("_"), ACTIVATIONS, key)
        refs = [self._shard_ref(file) for file in files]
        records = [[table_name, part, ref, info.n_rows, info.n_bytes] for part, (ref, info) in enumerate(zip(refs, infos))]
        n_rows = sum(info.n_rows for info in infos)
        with self._writing() as con:
            old_files = self._drop_entry(con, ACTIVATIONS, key)
            con.executemany("INSERT INTO parquet_files VALUES (?, ?, ?, ?, ?)", records)
            self._write_index_row(con, {
                "kind": ACTIVATIONS, "key": key, "table_name": table_name, "layer": layer,
                "meta": meta_text, "n_rows": n_rows, "dim": widths[0],
                "n_bytes": n_rows * (widths[0] * 4 + arrow_io.ROW_META_BYTES),
            })
        kept = {self._shard_path(ref).resolve() for ref in refs}
        self._delete_files([file for file in old_files if file.resolve() not in kept])

    def shard_files(self, key: str) -> list[Path]:
        """The Parquet shards of the activation set under ``key``, in row order (empty when not sharded)."""
        _check_key(key)
        with self._reading() as con:
            if con is None:
                return []
            entry = self._entry(con, ACTIVATIONS, key)
            if entry is None or not entry[0].startswith(PARQUET_PREFIX):
                return []
            return self._shard_files(con, entry[0])

    def _shard_files(self, con: duckdb.DuckDBPyConnection, table_name: str) -> list[Path]:
        rows = con.execute(
            "SELECT file FROM parquet_files WHERE table_name = ? ORDER BY part", [table_name]
        ).fetchall()
        return [self._shard_path(ref) for (ref,) in rows]

    def _read_shards(self, con: duckdb.DuckDBPyConnection, key: str, table_name: str, n_rows: int, dim: int) -> pa.Table:
        """The rows of a sharded activation set, read by DuckDB from the Parquet files in place."""
        files = self._shard_files(con, table_name)
        missing = [file for file in files if not file.is_file()]
        if missing or not files:
            raise CacheCorruptError(
                f"cache entry {key} in {self.path} is kept as {len(files)} Parquet shard(s) and "
                f"{len(missing) if files else 'all'} are missing (first: {missing[0] if missing else '-'}); "
                "restore the files or remove the entry (`python -m topoact cache clear --kind activations`)"
            )
        try:
            return parquet.read_shards(con, files, dim, n_rows)
        except duckdb.Error as exc:
            raise CacheCorruptError(f"cache entry {key} in {self.path}: its Parquet shards are unreadable ({exc})") from exc

    def _read_vector_file(self, con, table_name: str, n_rows: int, dim: int) -> np.ndarray | None:
        rows = con.execute("SELECT file FROM vector_files WHERE table_name = ?", [table_name]).fetchall()
        if not rows:
            return None
        try:
            vectors = np.load(self.vector_dir / Path(rows[0][0]).name, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if vectors.shape != (n_rows, dim) or vectors.dtype != np.float32:
            return None
        return vectors

    def has_activations(self, key: str) -> bool:
        """Return True if an activation set is stored under ``key``."""
        return self._has(ACTIVATIONS, _check_key(key))

    def _has(self, kind: str, key: str) -> bool:
        with self._reading() as con:
            return con is not None and self._entry(con, kind, key) is not None

    # ------------------------------------------------------------------- graphs
    def put_graph(self, key: str, graph_json: str, meta: dict) -> None:
        """Store a Mapper graph (JSON text) under ``key``, replacing any previous one.

        Parameters
        ----------
        key : str
            Cache key.
        graph_json : str
            The serialised graph.
        meta : dict
            JSON-able description (lens, cover, clusterer, source key ...).
        """
        _check_key(key)
        if not isinstance(graph_json, str):
            raise TypeError(f"graph_json must be str, got {type(graph_json).__name__}")
        meta_text = canonical_json(meta)
        with self._writing() as con:
            self._drop_entry(con, GRAPH, key)
            con.execute("INSERT INTO graphs VALUES (?, ?)", [key, graph_json])
            self._write_index_row(
                con,
                {"kind": GRAPH, "key": key, "meta": meta_text, "n_bytes": len(graph_json.encode())},
            )

    def get_graph(self, key: str) -> str | None:
        """Return the graph JSON stored under ``key``, or None on a miss."""
        _check_key(key)
        with self._reading() as con:
            if con is None:
                return None
            rows = con.execute(
                "SELECT g.body FROM graphs g JOIN entries e ON e.kind = 'graph' AND e.key = g.key "
                "WHERE g.key = ?",
                [key],
            ).fetchall()
        return rows[0][0] if rows else None

    # ------------------------------------------------------------------- tables
    def put_table(
        self, kind: str, key: str, table: pa.Table | pandas.DataFrame, meta: dict
    ) -> None:
        """Store a result table (anomaly scores and the like) as entry (kind, key).

        Parameters
        ----------
        kind : str
            What the table is, e.g. ``"anomaly_scores"`` (lowercase identifier, not one of
            ``activations``, ``graph``, ``runs``).
        key : str
            Cache key.
        table : pyarrow.Table or pandas.DataFrame
            The rows; a DataFrame keeps its index (pandas metadata is stored).
        meta : dict
            JSON-able description.

        Raises
        ------
        CacheError
            If DuckDB cannot store a column type (nothing is stored then; an earlier
            entry under the same key stays as it was).
        """
        _check_table_kind(kind)
        _check_key(key)
        if not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table)
        row = {
            "meta": canonical_json(meta),
            "n_rows": table.num_rows,
            "n_bytes": int(table.nbytes),
            "arrow_schema": table.schema.serialize().to_pybytes(),
        }
        self._put_arrow(kind, key, "tbl", table, None, row)

    def get_table(self, kind: str, key: str) -> pa.Table | None:
        """Return the table stored as entry (kind, key), or None on a miss.

        Returns
        -------
        pyarrow.Table or None
            With the Arrow schema it was stored with (``.to_pandas()`` restores a
            DataFrame's index).
        """
        _check_table_kind(kind)
        _check_key(key)
        with self._reading() as con:
            if con is None:
                return None
            entry = self._entry(con, kind, key)
            if entry is None:
                return None
            table_name, _, _, _, _, schema_blob = entry
            if table_name is None:  # an entry of images under this kind, not a table
                return None
            table = con.sql(f'SELECT * FROM "{table_name}"').to_arrow_reader(1 << 16).read_all()
        schema = pa.ipc.read_schema(pa.py_buffer(schema_blob))
        try:
            return table.cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            # a type DuckDB hands back differently and Arrow cannot cast: keep DuckDB's
            # types, but the stored metadata (e.g. a DataFrame's index) still applies
            return table.replace_schema_metadata(schema.metadata)

    def has_table(self, kind: str, key: str) -> bool:
        """Return True if a table is stored as entry (kind, key)."""
        return self._has(_check_table_kind(kind), _check_key(key))

    # ------------------------------------------------------------------- images
    def put_images(self, kind: str, key: str, images: Mapping[str, bytes], meta: dict) -> None:
        """Store named PNG images as entry (kind, key), replacing any previous one, atomically.

        Parameters
        ----------
        kind : str
            What the images are, e.g. ``"featvis"`` (lowercase identifier, not one of
            ``activations``, ``graph``, ``runs``).
        key : str
            Cache key.
        images : mapping of str to bytes
            Name -> PNG file bytes; the order is kept. May be empty (a computed "nothing").
        meta : dict
            JSON-able description (what the images show, scores, parameters ...).

        Raises
        ------
        ValueError
            A value that is not PNG bytes, or a name that is not a non-empty str.
        CacheError
            If the file is locked, damaged or the write fails (nothing is stored then).
        """
        _check_table_kind(kind)
        _check_key(key)
        rows = []
        for ordinal, (name, png) in enumerate(images.items()):
            if not isinstance(name, str) or not name:
                raise ValueError(f"image names must be non-empty str, got {name!r}")
            if not isinstance(png, (bytes, bytearray)) or not bytes(png).startswith(PNG_SIGNATURE):
                raise ValueError(f"image {name!r} is not PNG bytes")
            rows.append([kind, key, ordinal, name, bytes(png)])
        meta_text = canonical_json(meta)
        with self._writing() as con:
            self._drop_entry(con, kind, key)
            if rows:
                con.executemany("INSERT INTO images VALUES (?, ?, ?, ?, ?)", rows)
            layer = meta.get("layer") if isinstance(meta, dict) else None
            self._write_index_row(con, {"kind": kind, "key": key, "meta": meta_text, "n_rows": len(rows),
                                        "layer": layer if isinstance(layer, str) else None,
                                        "n_bytes": sum(len(row[4]) for row in rows)})

    def get_images(self, kind: str, key: str) -> StoredImages | None:
        """Return the images stored as entry (kind, key), or None on a miss.

        Returns
        -------
        StoredImages or None
            Name -> PNG bytes in the stored order, and the entry's meta.
        """
        return self.get_images_many(kind, [key]).get(key)

    def get_images_many(self, kind: str, keys: list[str]) -> dict[str, StoredImages]:
        """Return the image entries of ``kind`` stored under any of ``keys``, in one read.

        Parameters
        ----------
        kind : str
        keys : list of str

        Returns
        -------
        dict of str to StoredImages
            Only the keys that are stored (e.g. the nodes of a graph that have a
            visualization already).
        """
        _check_table_kind(kind)
        keys = [_check_key(key) for key in dict.fromkeys(keys)]
        if not keys:
            return {}
        with self._reading() as con:
            if con is None:
                return {}
            entries = con.execute(
                "SELECT key, meta, n_rows FROM entries WHERE kind = ? AND table_name IS NULL "
                "AND list_contains(?, key)", [kind, keys]
            ).fetchall()
            rows = con.execute(
                "SELECT key, name, png FROM images WHERE kind = ? AND list_contains(?, key) ORDER BY key, ordinal",
                [kind, [key for key, _, _ in entries]],
            ).fetchall() if entries else []
        images: dict[str, dict[str, bytes]] = {key: {} for key, _, _ in entries}
        for key, name, png in rows:
            images[key][name] = bytes(png)
        found = {}
        for key, meta, n_rows in entries:
            if len(images[key]) != int(n_rows or 0):
                raise CacheCorruptError(f"cache entry {key} in {self.path} lost images: "
                                        f"{len(images[key])} of {n_rows} found")
            found[key] = StoredImages(images=images[key], meta=json.loads(meta))
        return found

    def has_images(self, kind: str, key: str) -> bool:
        """Return True if images are stored as entry (kind, key)."""
        _check_table_kind(kind)
        _check_key(key)
        with self._reading() as con:
            if con is None:
                return False
            entry = self._entry(con, kind, key)
            return entry is not None and entry[0] is None

    # --------------------------------------------------------------------- runs
    def record_run(self, key: str, kind: str, params: dict, summary: dict) -> None:
        """Append a run record (what ran, with which parameters, and how it went).

        Parameters
        ----------
        key : str
            Cache key of the result the run produced.
        kind : str
            What ran, e.g. ``"extract"`` or ``"mapper"``.
        params, summary : dict
            JSON-able parameters and outcome (timings, counts ...).
        """
        _check_key(key)
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"run kind must be a non-empty str, got {kind!r}")
        values = [uuid.uuid4().hex, key, kind, canonical_json(params), canonical_json(summary),
                  topoact.__version__, time.time()]
        with self._writing() as con:
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", values)

    def list_runs(
        self, kind: str | None = None, key: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Return run records, newest first.

        Parameters
        ----------
        kind, key : str, optional
            Only runs of this kind / for this key.
        limit : int, optional
            At most this many.

        Returns
        -------
        list of dict
            ``run_id``, ``key``, ``kind``, ``params``, ``summary``, ``topoact_version``,
            ``created`` (aware UTC datetime).
        """
        with self._reading() as con:
            if con is None:
                return []
            rows = con.execute(
                "SELECT run_id, key, kind, params, summary, topoact_version, created FROM runs "
                "WHERE (CAST(? AS VARCHAR) IS NULL OR kind = ?) "
                "AND (CAST(? AS VARCHAR) IS NULL OR key = ?) "
                "ORDER BY created DESC, run_id LIMIT ?",
                [kind, kind, key, key, limit if limit is not None else 2**62],
            ).fetchall()
        return [
            {"run_id": r[0], "key": r[1], "kind": r[2], "params": json.loads(r[3]),
             "summary": json.loads(r[4]), "topoact_version": r[5], "created": _utc(r[6])}
            for r in rows
        ]

    # --------------------------------------------------------------- management
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

    def size_bytes(self) -> int:
        """Return the size on disk of the cache file, its write-ahead log, vector files and own shards, in bytes."""
        total = 0
        vector_files = list(self.vector_dir.iterdir()) if self.vector_dir.is_dir() else []
        shards = [file for file in self.shard_dir.rglob("*") if file.is_file()] if self.shard_dir.is_dir() else []
        for path in [self.path, self.path.with_name(self.path.name + ".wal"), *vector_files, *shards]:
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def clear(self, kind: str | None = None) -> int:
        """Remove cached entries and return how many were removed.

        Parameters
        ----------
        kind : str, optional
            Only entries of this kind; ``"runs"`` removes the run records (their space is
            reused by later writes). None removes every entry and every run record in one
            transaction and gives the space back to the file system.

        Returns
        -------
        int
            Number of entries (and run records) removed.
        """
        if not self.path.exists():
            return 0
        if kind is None:
            return self._clear_all()
        files: list[Path] = []
        with self._writing() as con:
            removed = 0
            if kind == RUNS:
                ((removed,),) = con.execute("SELECT count(*) FROM runs").fetchall()
                con.execute("DELETE FROM runs")
            else:
                rows = con.execute("SELECT kind, key FROM entries WHERE kind = ?", [kind]).fetchall()
                for entry_kind, key in rows:
                    files += self._drop_entry(con, entry_kind, key)
                removed = len(rows)
        self._delete_files(files)
        return removed

    def _clear_all(self) -> int:
        """Drop every table, checkpoint (DuckDB truncates the now free file) and recreate the schema.

        DuckDB never moves blocks, so dropping tables leaves the file as large as before
        unless the blocks at its end become free; dropping *all* tables frees every block.
        The file lock is held throughout, so no other process sees the intermediate state;
        a crash after the first commit leaves an empty database, which the next write
        initialises.
        """
        with self._writing() as con:
            ((n_entries,),) = con.execute("SELECT count(*) FROM entries").fetchall()
            ((n_runs,),) = con.execute("SELECT count(*) FROM runs").fetchall()
            for table_name in sorted(user_tables(con)):
                con.execute(f'DROP TABLE "{table_name}"')
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
            check_schema(con, self.path, create=True)
            con.execute("BEGIN TRANSACTION")  # _writing commits this empty transaction
        if self.vector_dir.is_dir():  # every entry is gone, so is every vector file
            for file in self.vector_dir.iterdir():
                file.unlink(missing_ok=True)
        shutil.rmtree(self.shard_dir, ignore_errors=True)  # and every shard the cache owned
        return int(n_entries + n_runs)

    def check(self) -> None:
        """Open the file once and verify it is a cache of this schema version.

        Creates the cache tables when the store is writable and the file is new.

        Raises
        ------
        CacheCorruptError
            The file is not a DuckDB database, is damaged, or has another schema version.
        CacheLockedError
            Another process held the file past ``lock_timeout``.
        """
        if self.read_only:
            with self._reading():
                return
        with self._writing():
            return

    def rebuild(self) -> Path | None:
        """Move the current file aside and start an empty cache.

        The old file (with its write-ahead log, vector and shard folders) is renamed to
        ``<name>.corrupt-<YYYYmmdd-HHMMSS>`` next to it; nothing is deleted.

        Returns
        -------
        Path or None
            Where the old file went, or None when there was none.

        Raises
        ------
        CacheLockedError
            Another process is using a (readable) file; it is left alone.
        """
        if self._closed:
            raise CacheError(f"{self!r} is closed")
        if self.read_only:
            raise CacheError(f"{self!r} is read-only; open it with read_only=False to rebuild")
        with process_lock(self.path):
            moved = None
            if self.path.exists():
                try:  # make sure no other process is using a healthy file
                    self._open(write=True).close()
                except CacheCorruptError:
                    pass
                stamp = time.strftime("%Y%m%d-%H%M%S")
                target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
                n = 1
                while target.exists():
                    n += 1
                    target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
                wal = self.path.with_name(self.path.name + ".wal")
                os.replace(self.path, target)
                if wal.exists():
                    os.replace(wal, target.with_name(target.name + ".wal"))
                if self.vector_dir.exists():
                    os.replace(self.vector_dir, target.with_name(target.name + ".vectors"))
                if self.shard_dir.exists():
                    os.replace(self.shard_dir, target.with_name(target.name + ".shards"))
                moved = target
        self.check()
        return moved

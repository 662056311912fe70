"""The files a cache keeps beside its DuckDB file: ``.npy`` vector copies and Parquet shards."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from topoact.cache import parquet
from topoact.cache.errors import CacheCorruptError
from topoact.cache.index import StoreIndex, _table_name


class VectorFiles(StoreIndex):
    """Where the vector files and shards of a :class:`~topoact.cache.Store` live, and how they are written and read."""

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

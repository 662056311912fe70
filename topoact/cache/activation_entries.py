"""Activation sets in the cache: DuckDB tables with a ``.npy`` copy of the vectors, or Parquet shards."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from topoact.activations import ActivationSet
from topoact.cache import arrow_io, parquet
from topoact.cache.errors import CacheCorruptError, CacheError
from topoact.cache.files import VectorFiles
from topoact.cache.index import (
    ACTIVATION_COMPRESSION,
    ACTIVATIONS,
    PARQUET_PREFIX,
    _check_key,
    _table_name,
)
from topoact.cache.keys import canonical_json


class ActivationEntries(VectorFiles):
    """Store, read and check activation sets (a part of :class:`~topoact.cache.Store`)."""

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


    def has_activations(self, key: str) -> bool:
        """Return True if an activation set is stored under ``key``."""
        return self._has(ACTIVATIONS, _check_key(key))

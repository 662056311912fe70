"""Activation sets as Parquet shards: what the distributed engine writes, the store reads in place.

A shard holds rows of one layer's activation set with the columns of an activation
table (:func:`topoact.cache.arrow_io.activations_to_arrow`): ``vector`` as a
fixed-size list of float32 and the row metadata. A set is an ordered list of shards;
:class:`topoact.cache.Store` registers the list (``parquet_files``) and reads the
rows through DuckDB's ``read_parquet`` where the files lie, so the cache can
describe data on storage that every node of a cluster shares.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from topoact.activations import ActivationSet
from topoact.cache.arrow_io import ROW_COLUMNS, activations_to_arrow, read_activations

#: Suffix of shard files.
SHARD_SUFFIX = ".parquet"

#: Compression of shard files: snappy shrinks ReLU activations by about a third and
#: reads back through DuckDB about as fast as uncompressed files (bench/RESULTS.md).
SHARD_COMPRESSION = "snappy"


@dataclass(frozen=True)
class ShardInfo:
    """What a shard's footer says: rows, vector width and size on disk."""

    n_rows: int
    dim: int
    n_bytes: int


def write_shard(acts: ActivationSet, path: str | os.PathLike[str]) -> ShardInfo:
    """Write ``acts`` as one Parquet shard at ``path``, atomically.

    The file is written under a temporary name in the same folder and renamed, so a
    reader (or a retried writer) sees the whole shard or none; writing the same
    shard twice leaves one file.

    Parameters
    ----------
    acts : ActivationSet
        The rows of the shard.
    path : path-like
        Target file (its folder must exist).

    Returns
    -------
    ShardInfo
    """
    target = Path(path)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(activations_to_arrow(acts), partial, compression=SHARD_COMPRESSION)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ShardInfo(acts.n_rows, acts.dim, target.stat().st_size)


def shard_info(path: str | os.PathLike[str]) -> ShardInfo:
    """Read a shard's footer and check that it holds activation rows.

    Raises
    ------
    ValueError
        The file is not readable Parquet or lacks the activation columns.
    """
    file = Path(path)
    try:
        schema = pq.read_schema(file)
        n_rows = pq.read_metadata(file).num_rows
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"{file} is not a readable Parquet shard: {exc}") from exc
    vector = schema.field("vector").type if "vector" in schema.names else None
    if vector is None or not pa.types.is_fixed_size_list(vector) or vector.value_type != pa.float32():
        raise ValueError(f"{file} has no 'vector' column of fixed-size float32 lists (found {vector})")
    missing = [name for name, _, _ in ROW_COLUMNS if name not in schema.names]
    if missing:
        raise ValueError(f"{file} lacks the activation columns {', '.join(missing)}")
    return ShardInfo(int(n_rows), int(vector.list_size), file.stat().st_size)


def read_shards(con: duckdb.DuckDBPyConnection, files: Sequence[str | os.PathLike[str]], dim: int, n_rows: int) -> pa.Table:
    """The rows of ``files``, in file order, read by DuckDB in place.

    DuckDB hands a Parquet list column back as ``FLOAT[]``; the query casts it to
    ``FLOAT[dim]`` (which fails on a vector of another length), the type
    :func:`topoact.cache.arrow_io.read_activations` reads.

    Parameters
    ----------
    con : DuckDBPyConnection
        Any connection (the cache's, or an in-memory one).
    files : sequence of path-like
    dim : int
        Width of the vectors.
    n_rows : int
        Expected rows (sizes the Arrow batches).

    Returns
    -------
    pyarrow.Table
        Columns ``vector`` and the row metadata.
    """
    names = ", ".join(name for name, _, _ in ROW_COLUMNS)
    query = f"SELECT CAST(vector AS FLOAT[{int(dim)}]) AS vector, {names} FROM read_parquet($files)"
    return con.sql(query, params={"files": [str(file) for file in files]}).to_arrow_table(max(int(n_rows), 1))


def read_shard_set(files: Sequence[str | os.PathLike[str]], meta: dict, layer: str) -> ActivationSet:
    """An activation set from its shards, read by an in-memory DuckDB (no cache file involved).

    Raises
    ------
    ValueError
        The files are not shards of one width.
    """
    infos = [shard_info(file) for file in files]
    widths = sorted({info.dim for info in infos})
    if len(widths) != 1:
        raise ValueError(f"shards of one activation set must have one width, got {widths}")
    n_rows = sum(info.n_rows for info in infos)
    with duckdb.connect() as con:
        table = read_shards(con, files, widths[0], n_rows)
    arrays = read_activations(table, n_rows, widths[0], copy=True)
    return ActivationSet(layer=layer, meta=dict(meta), **arrays)

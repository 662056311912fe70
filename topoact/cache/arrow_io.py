"""Activation sets to and from Arrow, without per-row Python.

Vectors travel as an Arrow ``FixedSizeListArray`` of float32 that DuckDB stores as a
``FLOAT[D]`` column; reading back copies each record batch straight into preallocated
NumPy arrays.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from topoact.activations import ActivationSet

#: DuckDB's largest ARRAY size (``FLOAT[D]`` needs ``D <= 100000``).
MAX_DIM = 100_000

#: Row-metadata columns of an activation table: name, NumPy dtype, DuckDB type.
ROW_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("sample_index", "int64", "BIGINT"),
    ("position", "int32", "INTEGER"),
    ("label", "int64", "BIGINT"),
    ("prediction", "int64", "BIGINT"),
    ("confidence", "float32", "FLOAT"),
    ("label_probability", "float32", "FLOAT"),
)

#: Bytes per row of the metadata columns (for size estimates).
ROW_META_BYTES = sum(np.dtype(dtype).itemsize for _, dtype, _ in ROW_COLUMNS)


def check_dim(dim: int) -> None:
    """Raise ValueError unless ``dim`` fits a DuckDB ``FLOAT[D]`` column."""
    if not 1 <= dim <= MAX_DIM:
        raise ValueError(
            f"activation width {dim} cannot be cached: DuckDB FLOAT[D] needs 1 <= D <= {MAX_DIM}; "
            "pool or sample the layer to fewer values per vector"
        )


def activations_to_arrow(acts: ActivationSet) -> pa.Table:
    """Return the rows of ``acts`` as an Arrow table (zero-copy views of its arrays).

    Parameters
    ----------
    acts : ActivationSet
        The activation set.

    Returns
    -------
    pyarrow.Table
        Columns ``vector`` (fixed_size_list<float32>[dim]) and the row metadata.
    """
    check_dim(acts.dim)
    flat = pa.array(acts.vectors.reshape(-1), type=pa.float32())
    columns = {"vector": pa.FixedSizeListArray.from_arrays(flat, acts.dim)}
    for name, dtype, _ in ROW_COLUMNS:
        columns[name] = pa.array(np.asarray(getattr(acts, name), dtype=dtype))
    return pa.table(columns)


def create_table_sql(table_name: str, dim: int) -> str:
    """Return the DDL of an activation table (``table_name`` must be a trusted identifier)."""
    check_dim(dim)
    cols = ", ".join(f"{name} {sql_type} NOT NULL" for name, _, sql_type in ROW_COLUMNS)
    return f'CREATE TABLE "{table_name}" (vector FLOAT[{int(dim)}] NOT NULL, {cols})'


def select_sql(table_name: str, *, with_vectors: bool = True) -> str:
    """Return the query that reads an activation table in insertion order."""
    names = ", ".join(name for name, _, _ in ROW_COLUMNS)
    return f'SELECT {"vector, " if with_vectors else ""}{names} FROM "{table_name}"'


def _column_numpy(column: pa.ChunkedArray, out: np.ndarray | None, n_rows: int, width: int) -> np.ndarray:
    """Return ``column`` as NumPy: a zero-copy view for one chunk, else a copy into ``out``."""
    flat = [
        (chunk.flatten() if width else chunk).to_numpy(zero_copy_only=True) for chunk in column.chunks
    ]
    shape = (n_rows, width) if width else (n_rows,)
    if len(flat) == 1 and out is None:
        return flat[0].reshape(shape)
    if out is None:
        out = np.empty(shape, dtype=flat[0].dtype if flat else np.float32)
    start = 0
    for values in flat:
        n = values.size // width if width else values.size
        out[start : start + n] = values.reshape((n, width) if width else (n,))
        start += n
    return out


def read_activations(
    table: pa.Table, n_rows: int, dim: int, *, copy: bool = False, vectors: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Return the columns of an activation table read back from DuckDB as NumPy arrays.

    Parameters
    ----------
    table : pyarrow.Table
        Result of :func:`select_sql`.
    n_rows, dim : int
        Expected shape of the vectors (from the index row).
    vectors : ndarray, optional
        The vectors, already read from their ``.npy`` copy; ``table`` then holds only
        the metadata columns.
    copy : bool, default False
        Return fresh writable arrays. Otherwise a column that arrived as one Arrow chunk
        is returned as a zero-copy, read-only view of the Arrow buffer (one chunk per
        122,880-row DuckDB row group), and the others are copied once and marked
        read-only too, so the result is read-only either way.

    Returns
    -------
    dict of str to ndarray
        ``vectors`` of shape ``(n_rows, dim)`` and one array per metadata column.

    Raises
    ------
    ValueError
        If the table does not hold exactly ``n_rows`` rows of width ``dim``.
    """
    if table.num_rows != n_rows:
        raise ValueError(f"activation table holds {table.num_rows} rows, index says {n_rows}")
    out: dict[str, np.ndarray] = {}
    columns = [(n, d, 0) for n, d, _ in ROW_COLUMNS]
    if vectors is None:
        vector_type = table.schema.field("vector").type
        if getattr(vector_type, "list_size", None) != dim:
            raise ValueError(f"activation table has vector type {vector_type}, index says width {dim}")
        columns = [("vectors", "float32", dim)] + columns
    else:
        out["vectors"] = vectors
        if not copy:
            vectors.flags.writeable = False
    for name, dtype, width in columns:
        column = table.column("vector" if name == "vectors" else name)
        target = None
        if copy or column.num_chunks != 1:
            target = np.empty((n_rows, width) if width else (n_rows,), dtype=dtype)
        array = _column_numpy(column, target, n_rows, width)
        if array.dtype != np.dtype(dtype):
            raise ValueError(f"activation column {name} has dtype {array.dtype}, expected {dtype}")
        if not copy:
            array.flags.writeable = False
        out[name] = array
    return out

"""Results in the cache: Mapper graphs (JSON), result tables (anomaly scores, metrics rows) and run records."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import pyarrow as pa

import topoact
from topoact.cache.files import VectorFiles
from topoact.cache.index import GRAPH, _check_key, _check_table_kind, _utc
from topoact.cache.keys import canonical_json

if TYPE_CHECKING:
    import pandas


class ResultEntries(VectorFiles):
    """Store and read graphs, tables and run records (a part of :class:`~topoact.cache.Store`)."""

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

"""The tables of the cache file and the check that a file is a cache this code can read.

Layout (schema version 3):

``topoact_meta(name, value)``
    ``schema_version``, ``created_by`` (topoact version) and ``created`` (epoch seconds).
``entries(kind, key, table_name, layer, meta, n_rows, dim, n_bytes, arrow_schema, topoact_version, created)``
    One row per cached result; written last in the transaction that stores the result,
    so a result is visible exactly when its index row is.
``graphs(key, body)``
    Mapper graphs as JSON text.
``images(kind, key, ordinal, name, png)``
    Small images as PNG bytes (feature visualizations and exemplar patches), several
    per entry in ``ordinal`` order; written in the transaction of their index row.
``runs(run_id, key, kind, params, summary, topoact_version, created)``
    A log of runs (one row per :meth:`Store.record_run`).
``vector_files(table_name, file)``
    For an activation table, the name of its immutable ``.npy`` copy of the vectors in
    the ``<cache file>.vectors`` folder (a read accelerator: DuckDB's ``FLOAT[D]``
    column stays the canonical copy). Written in the same transaction as the table.
``parquet_files(table_name, part, file, n_rows, n_bytes)``
    For an activation set kept as Parquet shards (written by the distributed engine),
    its files in row order: a path relative to the ``<cache file>.shards`` folder for
    shards the cache owns, an absolute path for shards elsewhere (shared storage),
    which the cache reads in place and never deletes. The entry's ``table_name`` is
    ``pq_<digest>`` and names no DuckDB table.
``act_<digest>`` / ``tbl_<digest>``
    One table per activation set (``vector FLOAT[D]`` and the row metadata) or per
    stored Arrow table (anomaly scores and the like).
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

import topoact
from topoact.cache.errors import REBUILD_HINT, CacheCorruptError

#: Version of the table layout; a file with another version is refused with a rebuild hint.
#: History: 1 first layout; 2 added ``vector_files``; 3 added ``parquet_files`` and ``images``.
SCHEMA_VERSION = 3

_BASE_TABLES = ("topoact_meta", "entries", "graphs", "runs", "vector_files", "parquet_files", "images")

_DDL = (
    "CREATE TABLE topoact_meta (name VARCHAR NOT NULL, value VARCHAR NOT NULL)",
    """CREATE TABLE entries (
        kind VARCHAR NOT NULL, key VARCHAR NOT NULL, table_name VARCHAR, layer VARCHAR,
        meta VARCHAR NOT NULL, n_rows BIGINT, dim INTEGER, n_bytes BIGINT NOT NULL,
        arrow_schema BLOB, topoact_version VARCHAR NOT NULL, created DOUBLE NOT NULL)""",
    "CREATE TABLE graphs (key VARCHAR NOT NULL, body VARCHAR NOT NULL)",
    "CREATE TABLE vector_files (table_name VARCHAR NOT NULL, file VARCHAR NOT NULL)",
    """CREATE TABLE parquet_files (
        table_name VARCHAR NOT NULL, part INTEGER NOT NULL, file VARCHAR NOT NULL,
        n_rows BIGINT NOT NULL, n_bytes BIGINT NOT NULL)""",
    """CREATE TABLE images (
        kind VARCHAR NOT NULL, key VARCHAR NOT NULL, ordinal INTEGER NOT NULL, name VARCHAR NOT NULL,
        png BLOB NOT NULL)""",
    """CREATE TABLE runs (
        run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        params VARCHAR NOT NULL, summary VARCHAR NOT NULL, topoact_version VARCHAR NOT NULL,
        created DOUBLE NOT NULL)""",
)


def user_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Return the names of the tables in the main schema of the open database."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main'"
    ).fetchall()
    return {name for (name,) in rows}


#: Older layouts this code upgrades in place (the tables each lacks). Version 3 only
#: added tables, so a version-2 file keeps everything it holds; its entries' keys name
#: version 2 and are simply not asked for any more (``cache clear`` removes them).
_UPGRADES: dict[str, tuple[str, ...]] = {"2": ("parquet_files", "images")}


class CacheUpgradeNeeded(CacheCorruptError):
    """An older cache layout that a read-write open upgrades in place (see ``_UPGRADES``)."""


def _upgrade(con: duckdb.DuckDBPyConnection, found: str) -> None:
    """Add the tables a version-``found`` file lacks and mark it current, in one transaction."""
    present = user_tables(con)
    wanted = [name for name in _UPGRADES[found] if name not in present]
    con.execute("BEGIN TRANSACTION")
    try:
        for statement in _DDL:
            if statement.split("(")[0].split()[-1] in wanted:
                con.execute(statement)
        con.execute("UPDATE topoact_meta SET value = ? WHERE name = 'schema_version'", [str(SCHEMA_VERSION)])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def check_schema(con: duckdb.DuckDBPyConnection, path: Path, *, create: bool) -> bool:
    """Check that the open database is a topoact cache of this schema version.

    Parameters
    ----------
    con : DuckDBPyConnection
        Connection to the cache file (read-write when ``create`` is true).
    path : Path
        The file, for messages.
    create : bool
        Create the tables when the database is empty.

    Returns
    -------
    bool
        True when the cache tables exist (after creating them if asked), False for an
        empty database opened without ``create``.

    Raises
    ------
    CacheCorruptError
        The database holds other tables, misses some of ours, or has another schema version.
    """
    tables = user_tables(con)
    if "topoact_meta" not in tables:
        if tables:
            raise CacheCorruptError(
                f"{path} is a DuckDB database but not a topoact cache (it holds the tables "
                f"{', '.join(sorted(tables)[:5])}); {REBUILD_HINT}"
            )
        if not create:
            return False
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in _DDL:
                con.execute(statement)
            con.executemany(
                "INSERT INTO topoact_meta VALUES (?, ?)",
                [
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("created_by", topoact.__version__),
                    ("created", repr(time.time())),
                ],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return True
    rows = con.execute("SELECT value FROM topoact_meta WHERE name = 'schema_version'").fetchall()
    found = rows[0][0] if rows else "missing"
    if found in _UPGRADES:
        if not create:
            raise CacheUpgradeNeeded(
                f"{path} has cache schema version {found}; open it read-write once to upgrade it to "
                f"version {SCHEMA_VERSION} in place (any writing topoact command does)"
            )
        _upgrade(con, found)
        found, tables = str(SCHEMA_VERSION), user_tables(con)
    if found != str(SCHEMA_VERSION):
        created_by = con.execute(
            "SELECT value FROM topoact_meta WHERE name = 'created_by'"
        ).fetchall()
        by = f", written by topoact {created_by[0][0]}" if created_by else ""
        raise CacheCorruptError(
            f"{path} has cache schema version {found}{by}; this topoact "
            f"({topoact.__version__}) reads version {SCHEMA_VERSION}. Cached results cannot be "
            f"reused across schema versions: {REBUILD_HINT}"
        )
    missing = [name for name in _BASE_TABLES if name not in tables]
    if missing:
        raise CacheCorruptError(f"{path} lacks the cache tables {', '.join(missing)}; {REBUILD_HINT}")
    return True

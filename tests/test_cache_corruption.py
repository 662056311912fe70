"""Damaged, foreign and incompatible cache files: clear errors, a rebuild that keeps the old file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from topoact.activations import ActivationSet
from topoact.cache import SCHEMA_VERSION, CacheCorruptError, CacheError, Store, cache_key

REPO = Path(__file__).resolve().parents[1]
KEY = cache_key(test="corruption")


def acts(n: int = 1000, dim: int = 16) -> ActivationSet:
    rng = np.random.default_rng(0)
    return ActivationSet("l", rng.standard_normal((n, dim), dtype=np.float32), np.arange(n),
                         np.zeros(n), np.zeros(n), np.zeros(n), np.ones(n), {"x": 1})


def assert_rebuild_hint(message: str) -> None:
    assert "python -m topoact cache clear --all" in message and "rebuild()" in message


@pytest.mark.parametrize("content", [b"this is not a database\n" * 200, b""], ids=["garbage", "empty"])
@pytest.mark.parametrize("read_only", [False, True])
def test_not_a_duckdb_file(tmp_path, content, read_only):
    path = tmp_path / "cache.duckdb"
    path.write_bytes(content)
    store = Store(path, read_only=read_only)
    for call in (lambda: store.get_activations(KEY), store.list_entries, store.check):
        with pytest.raises(CacheCorruptError) as info:
            call()
        assert "not a valid DuckDB database" in str(info.value)
        assert str(path) in str(info.value)
        assert_rebuild_hint(str(info.value))
    assert path.read_bytes() == content  # nothing touched


def test_rebuild_moves_the_bad_file_aside_and_starts_empty(tmp_path):
    path = tmp_path / "cache.duckdb"
    content = b"garbage" * 1000
    path.write_bytes(content)
    (tmp_path / "cache.duckdb.wal").write_bytes(b"old wal")
    store = Store(path)
    moved = store.rebuild()
    assert moved.name.startswith("cache.duckdb.corrupt-") and moved.read_bytes() == content
    assert Path(f"{moved}.wal").read_bytes() == b"old wal"
    assert store.list_entries() == []
    store.put_activations(KEY, acts())
    assert store.get_activations(KEY).vectors.tobytes() == acts().vectors.tobytes()
    # a second rebuild in the same second does not overwrite the first one
    second = store.rebuild()
    assert second != moved and moved.read_bytes() == content and second.exists()


def test_truncated_database_reads_give_a_clear_error(tmp_path):
    path = tmp_path / "cache.duckdb"
    Store(path).put_activations(KEY, acts(n=20_000, dim=128))
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(CacheCorruptError) as info:
        Store(path).get_activations(KEY)
    assert "damaged or unreadable" in str(info.value)
    assert_rebuild_hint(str(info.value))


def test_other_schema_version_is_refused(tmp_path):
    path = tmp_path / "cache.duckdb"
    Store(path).put_activations(KEY, acts())
    con = duckdb.connect(str(path))
    con.execute("UPDATE topoact_meta SET value = ? WHERE name = 'schema_version'", ["999"])
    con.close()
    for store in (Store(path), Store(path, read_only=True)):
        with pytest.raises(CacheCorruptError) as info:
            store.get_activations(KEY)
        assert "schema version 999" in str(info.value) and f"reads version {SCHEMA_VERSION}" in str(info.value)
        assert_rebuild_hint(str(info.value))
    with pytest.raises(CacheCorruptError):
        Store(path).put_activations(KEY, acts())  # and never writes into it


def test_version_2_file_is_upgraded_in_place_and_keeps_its_entries(tmp_path):
    """Version 3 only added tables: a version-2 file (as written before) is upgraded, not refused."""
    path = tmp_path / "cache.duckdb"
    Store(path).put_activations(KEY, acts())
    con = duckdb.connect(str(path))  # make it what a version-2 topoact wrote
    con.execute("DROP TABLE parquet_files")
    con.execute("DROP TABLE images")
    con.execute("UPDATE topoact_meta SET value = '2' WHERE name = 'schema_version'")
    con.close()
    with pytest.raises(CacheCorruptError, match="version 2; open it read-write once"):
        Store(path, read_only=True).get_activations(KEY)  # a reader cannot upgrade
    got = Store(path).get_activations(KEY)  # a writable store upgrades, then reads
    np.testing.assert_array_equal(got.vectors, acts().vectors)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT value FROM topoact_meta WHERE name = 'schema_version'").fetchall() == [
        (str(SCHEMA_VERSION),)]
    assert {"parquet_files", "images"} <= {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert [e["key"] for e in Store(path, read_only=True).list_entries()] == [KEY]


def test_foreign_duckdb_database_is_refused(tmp_path):
    path = tmp_path / "cache.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.close()
    with pytest.raises(CacheCorruptError, match="not a topoact cache .*customers"):
        Store(path).put_activations(KEY, acts())
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchall() == [(1,)]
    con.close()


def test_cli_reports_and_rebuilds_a_corrupt_file(tmp_path):
    path = tmp_path / "topoact.duckdb"  # the default file inside $TOPOACT_CACHE_DIR
    path.write_bytes(b"garbage" * 100)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOPOACT_CACHE_DIR": str(tmp_path)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "topoact", "cache", *args], env=env,
                              capture_output=True, text=True, cwd=str(REPO), timeout=120)

    listing = cli("list")
    assert listing.returncode == 2
    assert listing.stderr.count("\n") == 1 and listing.stderr.startswith("error: ")
    assert "not a valid DuckDB database" in listing.stderr and "cache clear --all" in listing.stderr
    cleared = cli("clear", "--all")
    assert cleared.returncode == 0, cleared.stderr
    assert "moved it aside" in cleared.stdout
    (aside,) = tmp_path.glob("topoact.duckdb.corrupt-*")
    assert aside.read_bytes() == b"garbage" * 100
    listing = cli("list")
    assert listing.returncode == 0 and "no cached entries" in listing.stdout
    Store(path).put_activations(KEY, acts())
    assert cli("list").stdout.count(KEY[:12]) == 1


def test_closed_or_read_only_store_cannot_rebuild(tmp_path):
    with pytest.raises(CacheError, match="read-only"):
        Store(tmp_path / "c.duckdb", read_only=True).rebuild()

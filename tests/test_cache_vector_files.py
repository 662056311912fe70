"""The vectors' .npy copies next to the DuckDB file: used when valid, never trusted blindly."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from test_cache_store import assert_same, make_acts
from topoact.cache import CacheCorruptError, Store, cache_key

KEY = cache_key(kind="activations", model="m", layer="l")


def vector_files(store: Store) -> list:
    return sorted(p.name for p in store.vector_dir.iterdir()) if store.vector_dir.exists() else []


def read_from_duckdb_only(path, key):
    """What DuckDB's FLOAT[D] column holds, read without the store."""
    con = duckdb.connect(str(path), read_only=True)
    (table,) = con.execute("SELECT table_name FROM entries WHERE key = ?", [key]).fetchone()
    vectors = np.array(con.execute(f'SELECT vector FROM "{table}"').fetchall(), dtype=object)
    con.close()
    return np.array([np.array(v[0], dtype=np.float32) for v in vectors])


def test_put_writes_one_copy_and_get_is_exact_with_or_without_it(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    acts = make_acts()
    store.put_activations(KEY, acts)
    files = vector_files(store)
    assert len(files) == 1 and files[0].endswith(".npy")
    got = store.get_activations(KEY)
    assert_same(got, acts)
    assert not got.vectors.flags.writeable  # read-only, as from DuckDB
    # DuckDB's FLOAT[D] column stays the canonical copy.
    np.testing.assert_array_equal(read_from_duckdb_only(store.path, KEY), acts.vectors)
    # A missing copy falls back to DuckDB, bit for bit.
    (store.vector_dir / files[0]).unlink()
    assert_same(store.get_activations(KEY), acts)


def test_damaged_copy_is_ignored(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    acts = make_acts()
    store.put_activations(KEY, acts)
    (file,) = store.vector_dir.iterdir()
    file.write_bytes(file.read_bytes()[:200])  # truncated
    assert_same(store.get_activations(KEY), acts)
    np.save(file, np.zeros((3, 3), dtype=np.float32))  # wrong shape
    assert_same(store.get_activations(KEY), acts)


def test_replacing_an_entry_leaves_only_the_new_copy(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    store.put_activations(KEY, make_acts(seed=1))
    first = vector_files(store)
    newer = make_acts(seed=2)
    store.put_activations(KEY, newer)
    second = vector_files(store)
    assert len(second) == 1 and second != first
    assert_same(store.get_activations(KEY), newer)


def test_failed_put_leaves_no_copy_behind(tmp_path):
    path = tmp_path / "c.duckdb"
    store = Store(path)
    acts = make_acts()
    store.put_activations(KEY, acts)
    before = vector_files(store)
    con = duckdb.connect(str(path))
    con.execute("UPDATE topoact_meta SET value = '999' WHERE name = 'schema_version'")
    con.close()
    with pytest.raises(CacheCorruptError):
        store.put_activations(cache_key(kind="activations", model="other"), make_acts(seed=3))
    assert vector_files(store) == before
    with pytest.raises(Exception):
        Store(path, read_only=True).put_activations(KEY, acts)
    assert vector_files(store) == before


def test_clear_and_rebuild_take_the_copies_along(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    for seed in range(3):
        store.put_activations(cache_key(kind="activations", seed=seed), make_acts(seed=seed))
    assert len(vector_files(store)) == 3
    assert store.size_bytes() > sum(p.stat().st_size for p in store.vector_dir.iterdir())
    assert store.clear("activations") == 3
    assert vector_files(store) == []
    store.put_activations(KEY, make_acts())
    store.clear()
    assert vector_files(store) == []
    store.put_activations(KEY, make_acts())
    moved = store.rebuild()
    assert vector_files(store) == []
    assert len(list(moved.with_name(moved.name + ".vectors").iterdir())) == 1  # moved aside, not deleted

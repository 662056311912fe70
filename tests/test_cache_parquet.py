"""Activation sets kept as Parquet shards: registered in the store, read in place through DuckDB."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from topoact.activations import ActivationSet
from topoact.cache import CacheCorruptError, Store, cache_key
from topoact.cache.parquet import read_shard_set, shard_info, write_shard


def make_set(n: int, dim: int, seed: int, start: int = 0) -> ActivationSet:
    rng = np.random.default_rng(seed)
    return ActivationSet(
        layer="block2",
        vectors=rng.standard_normal((n, dim)).astype(np.float32),
        sample_index=np.arange(start, start + n),
        position=rng.integers(-1, 16, n),
        label=rng.integers(0, 10, n),
        prediction=rng.integers(0, 10, n),
        confidence=rng.random(n).astype(np.float32),
        meta={"model": "m", "layer": "block2", "engine": "ray"},
    )


def split(acts: ActivationSet, bounds: list[int]) -> list[ActivationSet]:
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        parts.append(ActivationSet(acts.layer, acts.vectors[lo:hi], acts.sample_index[lo:hi], acts.position[lo:hi],
                                   acts.label[lo:hi], acts.prediction[lo:hi], acts.confidence[lo:hi], dict(acts.meta)))
    return parts


def assert_same(got: ActivationSet, want: ActivationSet) -> None:
    for column in ("vectors", "sample_index", "position", "label", "prediction", "confidence"):
        np.testing.assert_array_equal(getattr(got, column), getattr(want, column))
        assert getattr(got, column).dtype == getattr(want, column).dtype, column


def write_parts(folder, acts: ActivationSet, bounds: list[int]) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, part in enumerate(split(acts, bounds)):
        files.append(folder / f"part-{i:07d}.parquet")
        write_shard(part, files[-1])
    return files


def test_shards_registered_in_the_store_read_back_through_duckdb_in_row_order(tmp_path):
    acts = make_set(250, 24, seed=1)
    store = Store(tmp_path / "c.duckdb")
    # Shards in the store's own folder, one of them empty (a block whose rows were all dropped).
    files = write_parts(store.shard_dir / "run-1" / "000-block2", acts, [0, 100, 100, 180, 250])
    key = cache_key(kind="activations", layer="block2", test="parquet")
    store.put_parquet_activations(key, "block2", files, acts.meta)

    got = store.get_activations(key)
    assert_same(got, acts)
    assert got.meta == acts.meta and got.layer == "block2"
    [entry] = store.list_entries("activations")
    assert entry["storage"] == "parquet" and entry["rows"] == 250 and entry["dim"] == 24
    assert store.shard_files(key) == files

    # The files are plain Parquet with fixed-size float lists: DuckDB reads them in place.
    assert pq.read_schema(files[0]).field("vector").type == pa.list_(pa.float32(), 24)
    with duckdb.connect() as con:
        rows = con.execute("SELECT count(*), sum(sample_index) FROM read_parquet(?)", [[str(f) for f in files]]).fetchone()
    with duckdb.connect(str(store.path), read_only=True) as con:
        registered = con.execute("SELECT count(*), sum(n_rows) FROM parquet_files").fetchone()
    assert rows == (250, int(acts.sample_index.sum())) and registered == (4, 250)

    # Without a cache file, an in-memory DuckDB reads the same rows.
    assert_same(read_shard_set(files, acts.meta, "block2"), acts)


def test_owned_shards_go_with_their_entry_and_outside_shards_stay(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    acts = make_set(60, 8, seed=2)
    owned = write_parts(store.shard_dir / "run-a" / "000-x", acts, [0, 30, 60])
    shared = write_parts(tmp_path / "shared-storage" / "run-b", acts, [0, 60])
    key_owned, key_shared = cache_key(kind="activations", n=1), cache_key(kind="activations", n=2)
    store.put_parquet_activations(key_owned, "x", owned, {})
    store.put_parquet_activations(key_shared, "x", shared, {})
    assert store.size_bytes() >= sum(f.stat().st_size for f in owned)

    # Replacing an entry deletes the shards it owned (and the folders they leave empty)...
    replacement = write_parts(store.shard_dir / "run-c" / "000-x", acts, [0, 60])
    store.put_parquet_activations(key_owned, "x", replacement, {})
    assert not any(f.exists() for f in owned) and not (store.shard_dir / "run-a").exists()
    assert_same(store.get_activations(key_owned), acts)
    # ...registering the same files again keeps them.
    store.put_parquet_activations(key_owned, "x", replacement, {})
    assert all(f.exists() for f in replacement)

    assert store.clear("activations") == 2
    assert not any(f.exists() for f in replacement)
    assert all(f.exists() for f in shared), "shards outside the cache folder are not the cache's to delete"

    store.put_parquet_activations(key_shared, "x", shared, {})
    again = write_parts(store.shard_dir / "run-d", acts, [0, 60])
    store.put_parquet_activations(key_owned, "x", again, {})
    store.clear()
    assert not store.shard_dir.exists() and all(f.exists() for f in shared)


def test_missing_or_foreign_shards_are_refused_with_one_clear_error(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    acts = make_set(40, 8, seed=3)
    files = write_parts(tmp_path / "s", acts, [0, 20, 40])
    key = cache_key(kind="activations", n=3)
    store.put_parquet_activations(key, "x", files, {})
    files[1].unlink()
    with pytest.raises(CacheCorruptError, match="kept as 2 Parquet shard.*1 are missing"):
        store.get_activations(key)

    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), other)
    with pytest.raises(ValueError, match="no 'vector' column"):
        store.put_parquet_activations(key, "x", [files[0], other], {})
    wide = write_parts(tmp_path / "w", make_set(5, 9, seed=4), [0, 5])
    with pytest.raises(ValueError, match="one width"):
        store.put_parquet_activations(key, "x", [files[0], *wide], {})
    with pytest.raises(ValueError, match="at least one shard"):
        store.put_parquet_activations(key, "x", [], {})
    assert shard_info(files[0]).n_rows == 20


def test_a_shard_is_written_atomically_and_rewriting_it_leaves_one_file(tmp_path):
    acts = make_set(30, 4, seed=5)
    target = tmp_path / "part-0000000.parquet"
    write_shard(acts, target)
    write_shard(acts, target)  # a retried block writes the same shard again
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert shard_info(target).n_rows == 30


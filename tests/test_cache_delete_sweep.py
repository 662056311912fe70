"""Deleting one cache entry (with what was derived from it) and sweeping orphaned files, on real DuckDB files."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
import pytest

from test_cache_parquet import make_set, write_parts
from test_cache_processes import HOLDER, expect_line, finish, spawn
from test_cache_store import assert_same, make_acts
from topoact.cache import CacheCorruptError, CacheError, CacheKeyError, CacheLockedError, Store, cache_key
from topoact.cli import main
from topoact.mapper import Mapper
from topoact.workflow import get_or_build_graph

ACTS = cache_key(test="delete", what="activations")
OTHER = cache_key(test="delete", what="other activations")
HOUR = 3600


def keys(store: Store) -> set[tuple[str, str]]:
    return {(e["kind"], e["key"]) for e in store.list_entries()}


def age(path, seconds: float) -> None:
    """Make ``path`` look ``seconds`` old (as a file a killed writer left long ago)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def chain(store: Store, key: str, seed: int) -> tuple[str, str]:
    """Activations under ``key``, their graph (the real get-or-build), and scores and metrics of the graph."""
    acts = make_set(120, 6, seed=seed)
    acts.meta = {"model": "m", "weights_id": "w", "dataset": "d", "content_hash": f"h{seed}", "seed": seed}
    store.put_activations(key, acts)
    acts.meta = {**acts.meta, "key": key}  # as the workflow hands it out
    built = get_or_build_graph(acts, Mapper(n_intervals=4, eps=2.0, min_samples=3), store)
    scores = cache_key(test="delete", scores=built.key)
    store.put_table("anomaly_scores", scores, pd.DataFrame({"score": np.arange(3.0)}), {"graph_key": built.key})
    store.put_table("graph_metrics", cache_key(test="delete", metrics=built.key), pd.DataFrame({"nodes": [1]}),
                    {"graph_key": built.key})
    return built.key, scores


def test_delete_by_prefix_removes_the_entry_what_was_derived_from_it_and_its_file(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    graph, _ = chain(store, ACTS, seed=1)
    chain(store, OTHER, seed=2)
    before = keys(store)
    assert len(before) == 8 and len(list(store.vector_dir.iterdir())) == 2

    removed = store.delete("activations", ACTS[:7])

    assert removed[0] == {"kind": "activations", "key": ACTS}
    assert {r["kind"] for r in removed} == {"activations", "graph", "anomaly_scores", "graph_metrics"}
    assert len(removed) == 4
    assert keys(store) == before - {(r["kind"], r["key"]) for r in removed}
    assert len(keys(store)) == 4 and ("graph", graph) not in keys(store)
    assert store.get_activations(ACTS) is None and store.get_graph(graph) is None
    assert len(list(store.vector_dir.iterdir())) == 1  # the deleted set's .npy went with it
    np.testing.assert_array_equal(store.get_activations(OTHER).vectors, make_set(120, 6, seed=2).vectors)


def test_deleting_a_graph_keeps_its_activations_and_removes_its_tables(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    graph, scores = chain(store, ACTS, seed=1)
    removed = store.delete("graph", graph)
    assert sorted(r["kind"] for r in removed) == ["anomaly_scores", "graph", "graph_metrics"]
    assert removed[0] == {"kind": "graph", "key": graph}
    assert keys(store) == {("activations", ACTS)}
    assert store.get_table("anomaly_scores", scores) is None
    # and a table alone goes alone
    chain(store, OTHER, seed=2)
    (table_key,) = [e["key"] for e in store.list_entries("anomaly_scores")]
    assert store.delete("anomaly_scores", table_key) == [{"kind": "anomaly_scores", "key": table_key}]
    assert len(keys(store)) == 4


def test_ambiguous_and_unknown_keys_raise_one_error_listing_candidates_and_remove_nothing(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    for key in ("abc123", "abc456", "fff000"):
        store.put_activations(key, make_acts(n=10, dim=3))
    before = keys(store)
    with pytest.raises(CacheKeyError) as info:
        store.delete("activations", "abc")
    message = str(info.value)
    assert "ambiguous" in message and "abc123" in message and "abc456" in message and "fff000" not in message
    with pytest.raises(CacheKeyError) as info:
        store.delete("activations", "zzz")
    assert "no activations entry with key 'zzz'" in str(info.value)
    assert all(key in str(info.value) for key in ("abc123", "abc456", "fff000"))
    with pytest.raises(CacheKeyError, match="no graph entries .*kinds stored: activations"):
        store.delete("graph", "abc")
    for kind, key in (("activations", ""), ("runs", "abc123"), ("", "abc123")):
        with pytest.raises(CacheKeyError):
            store.delete(kind, key)
    assert keys(store) == before
    assert store.delete("activations", "abc123") == [{"kind": "activations", "key": "abc123"}]  # exact key wins


def test_delete_of_sharded_activations_removes_owned_shards_but_not_shared_ones(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    acts = make_set(60, 8, seed=3)
    owned = write_parts(store.shard_dir / "run-1" / "000-block2", acts, [0, 30, 60])
    shared = write_parts(tmp_path / "shared" / "000-block2", acts, [0, 60])
    store.put_parquet_activations(ACTS, "block2", owned, acts.meta)
    store.put_parquet_activations(OTHER, "block2", shared, acts.meta)
    store.delete("activations", ACTS)
    assert not any(file.exists() for file in owned) and not (store.shard_dir / "run-1").exists()
    store.delete("activations", OTHER)
    assert all(file.exists() for file in shared)  # the cache only referenced them
    assert store.list_entries() == []


def test_delete_on_a_locked_file_times_out_and_removes_nothing(tmp_path):
    path = tmp_path / "c.duckdb"
    Store(path).put_activations(ACTS, make_acts(n=10, dim=3))
    holder = spawn(tmp_path, "holder", HOLDER, str(path), "rw")
    expect_line(holder, "held")
    try:
        with pytest.raises(CacheLockedError, match=f"PID {holder.pid}"):
            Store(path, lock_timeout=0.3).delete("activations", ACTS)
        with pytest.raises(CacheLockedError, match=f"PID {holder.pid}"):
            Store(path, lock_timeout=0.3).sweep(older_than=0)
    finally:
        holder.stdin.write("release\n")
        holder.stdin.flush()
        finish(holder)
    assert keys(Store(path)) == {("activations", ACTS)}
    assert len(list(Store(path).vector_dir.iterdir())) == 1


def test_delete_and_sweep_of_a_corrupt_file_raise_the_rebuild_hint_and_touch_nothing(tmp_path):
    path = tmp_path / "c.duckdb"
    content = b"not a database\n" * 100
    path.write_bytes(content)
    store = Store(path)
    store.vector_dir.mkdir()
    stray = store.vector_dir / "act_x-1.npy"
    np.save(stray, np.zeros((2, 2), np.float32))
    age(stray, 2 * HOUR)
    for call in (lambda: store.delete("activations", "abc"), lambda: store.sweep(older_than=0)):
        with pytest.raises(CacheCorruptError, match="cache clear --all"):
            call()
    assert path.read_bytes() == content and stray.exists()


def test_sweep_removes_old_orphans_only_and_dry_run_only_reports(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    store.put_activations(ACTS, make_acts(n=50, dim=4))
    acts = make_set(40, 8, seed=4)
    registered = write_parts(store.shard_dir / "run-1" / "000-block2", acts, [0, 20, 40])
    store.put_parquet_activations(OTHER, "block2", registered, acts.meta)
    (referenced,) = list(store.vector_dir.iterdir())
    # what killed writers leave: a vector file never committed, a partial write, a half-written run's shards
    orphan = store.vector_dir / "act_0123-dead.npy"
    np.save(orphan, np.ones((5, 4), np.float32))
    partial = store.vector_dir / ".partial-beef.npy"
    partial.write_bytes(b"\x93NUMPY")
    stale_run = write_parts(store.shard_dir / "run-2" / "000-block2", acts, [0, 40])
    stray_shard = write_parts(store.shard_dir / "run-1" / "001-block3", acts, [0, 40])
    young = store.vector_dir / "act_4567-busy.npy"  # a concurrent writer is creating it
    np.save(young, np.ones((5, 4), np.float32))
    for file in [referenced, orphan, partial, *registered, *stale_run, *stray_shard]:
        age(file, 2 * HOUR)
    for folder in [store.shard_dir / "run-2", store.shard_dir / "run-2" / "000-block2",
                   store.shard_dir / "run-1" / "001-block3"]:
        age(folder, 2 * HOUR)
    want_files = sorted([orphan, partial, *stale_run, *stray_shard])
    want_folders = [store.shard_dir / "run-2", store.shard_dir / "run-1" / "001-block3"]

    dry = store.sweep(dry_run=True)
    assert dry.dry_run and dry.files == want_files and sorted(dry.folders) == sorted(want_folders)
    assert dry.n_bytes == sum(file.stat().st_size for file in want_files)
    assert all(file.exists() for file in want_files)  # nothing removed
    assert Store(store.path, read_only=True).sweep(dry_run=True).files == want_files

    done = store.sweep()
    assert not done.dry_run and done.files == want_files
    assert not any(file.exists() for file in want_files) and not (store.shard_dir / "run-2").exists()
    assert referenced.exists() and young.exists() and all(file.exists() for file in registered)
    assert_same(store.get_activations(ACTS), make_acts(n=50, dim=4))
    np.testing.assert_array_equal(store.get_activations(OTHER).vectors, acts.vectors)
    assert store.sweep().files == []  # nothing left to sweep
    assert store.sweep(older_than=0).files == [young]  # no protection asked for


def test_sweep_bad_arguments_and_read_only(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    store.put_activations(ACTS, make_acts(n=10, dim=3))
    for bad in (-1, "1h", None, True):
        with pytest.raises(ValueError, match="older_than must be a number of seconds >= 0"):
            store.sweep(older_than=bad)
    with pytest.raises(CacheError, match="read-only"):
        Store(store.path, read_only=True).sweep()
    with pytest.raises(CacheError, match="read-only"):
        Store(store.path, read_only=True).delete("activations", ACTS)
    assert Store(tmp_path / "missing.duckdb").sweep().files == []


def test_cli_delete_and_sweep(tmp_path, capsys):
    store = Store(tmp_path / "c.duckdb")
    graph, _ = chain(store, ACTS, seed=1)
    path = ["--path", str(store.path)]
    assert main(["cache", "delete", "activations", ACTS[:8], "--json", *path]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["removed"][0] == {"kind": "activations", "key": ACTS} and len(out["removed"]) == 4
    assert store.list_entries() == []

    for key in ("abc123", "abc456"):
        store.put_activations(key, make_acts(n=10, dim=3))
    assert main(["cache", "delete", "activations", "abc", *path]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: key prefix 'abc' is ambiguous") and "abc123" in err and "abc456" in err
    assert len(err.splitlines()) == 1
    assert main(["cache", "delete", "activations", "abc4", *path]) == 0
    assert "removed activations     abc456" in capsys.readouterr().out

    orphan = store.vector_dir / "act_dead-beef.npy"
    np.save(orphan, np.ones((3, 3), np.float32))
    assert main(["cache", "sweep", "--dry-run", "--json", *path]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == []  # too young: a writer may be creating it
    assert main(["cache", "sweep", "--older-than", "0", "--dry-run", "--json", *path]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and dry["files"] == [str(orphan)] and dry["bytes"] == orphan.stat().st_size
    assert orphan.exists()
    assert main(["cache", "sweep", "--older-than", "0", *path]) == 0
    assert "removed 1 orphaned files" in capsys.readouterr().out and not orphan.exists()
    with pytest.raises(SystemExit):
        main(["cache", "sweep", "--older-than", "-5", *path])
    assert "must be a number of seconds >= 0" in capsys.readouterr().err

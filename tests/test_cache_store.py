"""Store round trips, staleness, atomic replacement and management, on real DuckDB files."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from topoact.activations import ActivationSet
from topoact.cache import CacheError, Store, cache_key
from topoact.cli import main as cli_main


def make_acts(n: int = 500, dim: int = 32, seed: int = 0, layer: str = "blocks.3") -> ActivationSet:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    if n:
        # values that expose lossy storage: signed zero, infinities, NaN, subnormals
        special = np.array([-0.0, np.inf, -np.inf, np.nan, 1e-45], dtype=np.float32)
        vectors.reshape(-1)[: special.size] = special[: vectors.size]
    return ActivationSet(
        layer=layer,
        vectors=vectors,
        sample_index=rng.integers(0, 2**40, n),
        position=rng.integers(-1, 3000, n, dtype=np.int32),
        label=rng.integers(-1, 1000, n),
        prediction=rng.integers(-1, 1000, n),
        confidence=np.where(rng.random(n) < 0.1, np.nan, rng.random(n)).astype(np.float32),
        label_probability=np.where(rng.random(n) < 0.2, np.nan, rng.random(n)).astype(np.float32),
        meta={"model": "m", "dataset": "d", "seed": seed, "nested": {"a": [1, 2.5, None, "x"]}},
    )


def assert_same(got: ActivationSet, want: ActivationSet) -> None:
    """Bit-exact equality of every array, plus layer and meta."""
    assert got.layer == want.layer
    assert got.meta == want.meta
    assert got.vectors.shape == want.vectors.shape
    for name in ("vectors", "sample_index", "position", "label", "prediction", "confidence", "label_probability"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        assert a.tobytes() == b.tobytes(), name


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "sub" / "cache.duckdb")


KEY = cache_key(model="m", dataset="d", layer="blocks.3", seed=0)


def test_activations_round_trip_bit_exact(store):
    acts = make_acts()
    assert store.get_activations(KEY) is None
    assert not store.has_activations(KEY)
    store.put_activations(KEY, acts)
    assert store.has_activations(KEY)
    assert_same(store.get_activations(KEY), acts)
    # a fresh Store object on the same file (nothing held in memory) reads the same
    assert_same(Store(store.path, read_only=True).get_activations(KEY), acts)


def test_vectors_are_stored_as_duckdb_float_array(store):
    store.put_activations(KEY, make_acts(dim=48))
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        (table_name,) = con.execute("SELECT table_name FROM entries WHERE key = ?", [KEY]).fetchall()[0]
        types = dict(con.execute(f"SELECT column_name, data_type FROM duckdb_columns() "
                                 f"WHERE table_name = ?", [table_name]).fetchall())
    finally:
        con.close()
    assert types["vector"] == "FLOAT[48]"


def test_round_trip_keeps_row_order_across_row_groups(store):
    # 300k rows span three DuckDB row groups; order and values must survive
    n = 300_000
    acts = make_acts(n=n, dim=4, seed=3)
    acts.vectors[:, 0] = np.arange(n, dtype=np.float32)
    store.put_activations(KEY, acts)
    got = store.get_activations(KEY)
    assert_same(got, acts)


def test_default_result_is_read_only_and_copy_is_writable(store):
    acts = make_acts()
    store.put_activations(KEY, acts)
    fast = store.get_activations(KEY)
    with pytest.raises(ValueError, match="read-only"):
        fast.vectors[0, 0] = 1.0
    writable = store.get_activations(KEY, copy=True)
    writable.vectors[0, 0] = 1.0
    writable.label[0] = 5
    assert_same(store.get_activations(KEY), acts)  # the cache is untouched


def test_empty_activation_set_round_trips(store):
    acts = make_acts(n=0, dim=7)
    store.put_activations(KEY, acts)
    got = store.get_activations(KEY)
    assert got.vectors.shape == (0, 7)
    assert_same(got, acts)


def test_width_beyond_duckdb_array_limit_is_refused_before_writing(store):
    acts = make_acts(n=2, dim=100_001)
    with pytest.raises(ValueError, match="100000"):
        store.put_activations(KEY, acts)
    assert store.list_entries() == []


def test_non_json_meta_is_refused_and_nothing_written(store):
    acts = make_acts()
    acts.meta = {"threshold": np.float32(0.5)}
    with pytest.raises(TypeError, match="threshold"):
        store.put_activations(KEY, acts)
    assert not store.has_activations(KEY)


def test_changed_key_part_is_a_miss_never_a_stale_hit(store):
    parts = dict(model="m", weights_sha256="a" * 64, dataset="d", data_sha256="b" * 64,
                 layer="blocks.3", sampling={"kind": "mean"}, seed=0)
    store.put_activations(cache_key(**parts), make_acts())
    for name, value in [("model", "m2"), ("weights_sha256", "c" * 64), ("dataset", "d2"),
                        ("data_sha256", "e" * 64), ("layer", "blocks.4"),
                        ("sampling", {"kind": "max"}), ("seed", 1)]:
        changed = cache_key(**{**parts, name: value})
        assert store.get_activations(changed) is None, name
        assert not store.has_activations(changed), name
    assert store.get_activations(cache_key(**parts)) is not None


def test_put_replaces_an_entry_under_the_same_key(store):
    store.put_activations(KEY, make_acts(n=100, dim=8, seed=1))
    newer = make_acts(n=50, dim=16, seed=2, layer="blocks.4")
    store.put_activations(KEY, newer)
    assert_same(store.get_activations(KEY), newer)
    assert len(store.list_entries("activations")) == 1
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    finally:
        con.close()
    assert len([t for t in tables if t.startswith("act_")]) == 1


def test_graph_round_trip_and_miss(store):
    text = '{"nodes": {"cube0_cluster0": [1, 2, 3]}, "links": {}, "ünïcode": "✓"}'
    assert store.get_graph(KEY) is None
    store.put_graph(KEY, text, {"lens": "l2", "n_intervals": 30})
    assert store.get_graph(KEY) == text
    assert store.get_graph(cache_key(other=1)) is None
    (entry,) = store.list_entries("graph")
    assert entry["meta"] == {"lens": "l2", "n_intervals": 30}
    assert entry["bytes"] == len(text.encode())


def test_arrow_table_round_trip_keeps_schema(store):
    table = pa.table({
        "row": pa.array(np.arange(1000), pa.int64()),
        "score": pa.array(np.linspace(0, 1, 1000), pa.float64()),
        "name": pa.array([f"n{i}" for i in range(1000)], pa.string()),
        "flag": pa.array(np.arange(1000) % 2 == 0),
        "small": pa.array(np.arange(1000) % 100, pa.int16()),
    })
    store.put_table("anomaly_scores", KEY, table, {"method": "knn"})
    got = store.get_table("anomaly_scores", KEY)
    assert got.schema == table.schema
    assert got.equals(table)
    assert store.has_table("anomaly_scores", KEY)
    assert store.get_table("anomaly_scores", cache_key(other=1)) is None
    assert store.get_table("point_purity", KEY) is None


def test_dataframe_round_trip_keeps_index(store):
    df = pd.DataFrame({"score": [0.5, 0.25, 0.125], "label": ["a", "b", "c"]},
                      index=pd.Index([10, 20, 30], name="sample"))
    store.put_table("anomaly_scores", KEY, df, {})
    pd.testing.assert_frame_equal(store.get_table("anomaly_scores", KEY).to_pandas(), df)


def test_failing_write_rolls_back_and_keeps_the_previous_entry(store):
    good = pa.table({"score": pa.array([1.0, 2.0], pa.float32())})
    store.put_table("anomaly_scores", KEY, good, {"v": 1})
    # DuckDB cannot store float16: the write fails after the old table was dropped
    # inside the transaction, so the rollback must bring the old entry back intact
    bad = pa.table({"score": pa.array(np.array([1.0, 2.0], np.float16()))})
    with pytest.raises(CacheError, match="(?i)arrow type"):
        store.put_table("anomaly_scores", KEY, bad, {"v": 2})
    assert store.get_table("anomaly_scores", KEY).equals(good)
    (entry,) = store.list_entries("anomaly_scores")
    assert entry["meta"] == {"v": 1}
    # and the store keeps working
    store.put_table("anomaly_scores", KEY, good.append_column("x", pa.array([1, 2])), {"v": 3})
    assert store.get_table("anomaly_scores", KEY).column_names == ["score", "x"]


@pytest.mark.parametrize("kind", ["activations", "graph", "runs", "Bad-Kind", ""])
def test_table_kind_must_be_a_free_identifier(store, kind):
    with pytest.raises(ValueError, match="kind"):
        store.put_table(kind, KEY, pa.table({"a": [1]}), {})


def test_runs_are_recorded_newest_first_and_filtered(store):
    other = cache_key(other=1)
    store.record_run(KEY, "extract", {"batch_size": 32}, {"seconds": 1.5, "rows": 500})
    store.record_run(KEY, "mapper", {"n_intervals": 30}, {"nodes": 40})
    store.record_run(other, "extract", {"batch_size": 64}, {"seconds": 2.0})
    runs = store.list_runs()
    assert [r["kind"] for r in runs] == ["extract", "mapper", "extract"]
    assert runs[0]["key"] == other and runs[0]["params"] == {"batch_size": 64}
    assert [r["summary"] for r in store.list_runs(kind="extract", key=KEY)] == [{"seconds": 1.5, "rows": 500}]
    assert len(store.list_runs(limit=2)) == 2
    with pytest.raises(TypeError):
        store.record_run(KEY, "extract", {"x": object()}, {})


def test_list_size_and_clear(store, tmp_path):
    assert store.list_entries() == [] and store.size_bytes() == 0 and store.clear() == 0
    big = make_acts(n=20_000, dim=64)
    store.put_activations(KEY, big)
    store.put_activations(cache_key(k=2), make_acts(n=10, dim=3, layer="fc"))
    store.put_graph(KEY, "{}", {"lens": "l2"})
    store.put_table("anomaly_scores", KEY, pa.table({"s": [1.0]}), {})
    store.record_run(KEY, "extract", {}, {})
    entries = store.list_entries()
    assert sorted(e["kind"] for e in entries) == ["activations", "activations", "anomaly_scores", "graph"]
    act = next(e for e in entries if e["kind"] == "activations" and e["key"] == KEY)
    assert (act["rows"], act["dim"], act["layer"]) == (20_000, 64, "blocks.3")
    assert act["bytes"] >= big.vectors.nbytes and act["meta"] == big.meta
    full = store.size_bytes()
    assert full > big.vectors.nbytes
    assert store.clear("graph") == 1
    assert store.get_graph(KEY) is None and store.has_activations(KEY)
    assert store.clear("runs") == 1 and store.list_runs() == []
    assert store.clear() == 3
    assert store.list_entries() == [] and store.get_activations(KEY) is None
    assert store.size_bytes() < full / 2  # dropped tables give their space back


def test_read_only_store(tmp_path):
    path = tmp_path / "cache.duckdb"
    reader = Store(path, read_only=True)
    assert reader.get_activations(KEY) is None and reader.list_entries() == []
    assert not path.exists()  # reading never creates the file
    with pytest.raises(CacheError, match="read-only"):
        reader.put_activations(KEY, make_acts())
    Store(path).put_activations(KEY, make_acts())
    assert_same(reader.get_activations(KEY), make_acts())


def test_closed_store_and_context_manager(tmp_path):
    with Store(tmp_path / "c.duckdb") as store:
        store.put_graph(KEY, "{}", {})
    with pytest.raises(CacheError, match="closed"):
        store.get_graph(KEY)
    assert Store(tmp_path / "c.duckdb").get_graph(KEY) == "{}"


def test_threads_in_one_process_share_a_store(store):
    from concurrent.futures import ThreadPoolExecutor

    sets = {cache_key(i=i): make_acts(n=200, dim=8, seed=i) for i in range(8)}

    def work(item):
        key, acts = item
        store.put_activations(key, acts)
        return store.get_activations(key)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, sets.items()))
    for got, want in zip(results, sets.values()):
        assert_same(got, want)


def test_cli_list_size_clear(tmp_path, capsys):
    path = tmp_path / "cache.duckdb"
    store = Store(path)
    store.put_activations(KEY, make_acts(n=30, dim=4))
    store.put_graph(cache_key(g=1), "{}", {"lens": "l2"})
    assert cli_main(["cache", "list", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert KEY[:12] in out and "blocks.3" in out and "2 entries" in out
    assert cli_main(["cache", "size", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "activations" in out and "graph" in out and str(path) in out
    assert cli_main(["cache", "clear", "--path", str(path)]) == 2
    assert "--kind" in capsys.readouterr().err
    assert cli_main(["cache", "clear", "--kind", "graph", "--path", str(path)]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert [e["kind"] for e in store.list_entries()] == ["activations"]
    assert cli_main(["cache", "clear", "--all", "--path", str(path)]) == 0
    assert store.list_entries() == []

"""The Ray engine on a local 2-CPU cluster (one per session, see conftest): same results as local.

Few and small on purpose: every extraction starts an actor pool (a worker process that
imports torch), which costs seconds on this VM.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import AgglomerativeClustering

import zoo
from topoact.cache import Store
from topoact.cli import main
from topoact.distributed import RayEngine
from topoact.distributed.extract import extract_to_shards, extract_with_ray
from topoact.distributed.mapper import cluster_elements
from topoact.extract import extract_activations
from topoact.mapper import Mapper
from topoact.mapper.cluster import DBSCAN
from topoact.workflow import ExtractionSpec, activation_key, get_or_extract

pytestmark = pytest.mark.usefixtures("ray_cluster")

COLUMNS = ("vectors", "sample_index", "position", "label", "prediction", "confidence")


@pytest.fixture(scope="module")
def digits():
    return zoo.load_dataset("digits")


def assert_same_activations(got, want) -> None:
    for column in COLUMNS:
        np.testing.assert_array_equal(getattr(got, column), getattr(want, column), err_msg=column)
    ignore = {"seconds", "engine", "cached", "key"}  # cached, key: what the workflow adds, not stored
    assert {k: v for k, v in got.meta.items() if k not in ignore} == {k: v for k, v in want.meta.items() if k not in ignore}


def kill_once(marker: str, at: int):
    """A hook that SIGKILLs the worker running item ``at`` the first time only (a marker file says so)."""

    def hook(index: int) -> None:
        import os
        import signal

        if index != at:
            return
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # the retry
        os.kill(os.getpid(), signal.SIGKILL)

    return hook


def files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_extract_cli_on_ray_gives_the_local_activations(tmp_path, capsys, digits, ray_cluster):
    shards = tmp_path / "shards"
    argv = ["extract", "--model", "digits_cnn", "--dataset", "digits", "--layers", "block1", "pool",
            "--limit", "300", "--batch-size", "32", "--quiet", "--no-cache", "--out", str(tmp_path / "ray.npz"),
            "--engine", "ray", "--actors", "1", "--shard-dir", str(shards)]
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["layer"], line["rows"], line["cached"]) for line in lines] == [("block1", 300, False), ("pool", 300, False)]
    assert ray_cluster.is_initialized(), "the command must not shut down a cluster it did not start"
    # Without a cache, the shards (2 blocks of 8 x 32 rows) were read by an in-memory DuckDB and removed.
    assert files_under(shards) == []

    local = extract_activations(zoo.load_model("digits_cnn"), digits, ["block1", "pool"], limit=300, batch_size=32)
    saved = np.load(tmp_path / "ray.npz")
    for layer, want in local.items():
        for column in COLUMNS:
            np.testing.assert_array_equal(saved[f"{layer}.{column}"], getattr(want, column), err_msg=f"{layer}.{column}")
        assert json.loads(str(saved[f"{layer}.meta"]))["engine"] == "ray"


def test_a_killed_actor_is_restarted_and_the_extraction_is_complete_and_identical(tmp_path, digits):
    model = zoo.load_model("digits_mlp")
    store = Store(tmp_path / "c.duckdb")
    common = dict(sampling="random_position", max_positions=16, seed=4, limit=400, nonfinite="raise", layout="nchw")
    marker = tmp_path / "killed"
    progress: list[tuple[float, str]] = []
    sets = extract_with_ray(
        model, digits, ["hidden1", "hidden2"], engine=RayEngine(actors=1, batches_per_block=2), store=store,
        key_of=lambda layer: activation_key(model, digits, layer, predictions=True, **common),
        batch_size=50, progress=lambda fraction, message: progress.append((fraction, message)),
        on_block=kill_once(str(marker), at=1), **common,
    )
    assert marker.exists(), "the hook did kill the actor"
    local = extract_activations(model, digits, ["hidden1", "hidden2"], batch_size=50, **common)
    for layer in local:
        assert_same_activations(sets[layer], local[layer])
        assert sets[layer].meta["engine"] == "ray"
        assert len(store.shard_files(activation_key(model, digits, layer, predictions=True, **common))) == 4
    assert progress == [(done / 400, f"extracting hidden1, hidden2 activations: {done:,} / 400 inputs")
                        for done in (0, 100, 200, 300, 400)]  # as the 4 blocks finish
    # The local engine finds the set in the cache: same key, read from the shards through DuckDB.
    again = get_or_extract(ExtractionSpec(model, digits, ["hidden2"], batch_size=50, **common), store=store)["hidden2"]
    assert again.meta["cached"] is True
    assert_same_activations(again, local["hidden2"])
    # 4 blocks x 2 layers, nothing else: no temporary file of the killed writer, no staging folder.
    names = files_under(store.shard_dir)
    assert len(names) == 8 and all(name.endswith(".parquet") and "/." not in name for name in names)
    assert not any(p.name.startswith(".partial") for p in store.shard_dir.iterdir())


def test_a_failing_block_leaves_no_half_written_run(tmp_path, digits):
    model = zoo.load_model("digits_mlp")
    store = Store(tmp_path / "c.duckdb")

    def broken(block: int) -> None:
        if block == 2:
            raise ValueError(f"block {block} is broken")

    with pytest.raises(ValueError, match="block 2 is broken"):
        extract_with_ray(
            model, digits, ["hidden1"], engine=RayEngine(actors=1, batches_per_block=1), store=store,
            key_of=lambda layer: "k-" + layer, sampling="random_position", limit=200, batch_size=50,
            on_block=broken,
        )
    assert store.list_entries() == [] and files_under(store.shard_dir) == []
    with pytest.raises(Exception, match="no GPU"):
        extract_to_shards(model, digits, ["hidden1"], np.arange(10), folder=tmp_path / "s", engine=RayEngine(),
                          sampling="random_position", device="cuda")


@pytest.fixture(scope="module")
def digits_block3(digits):
    acts = extract_activations(zoo.load_model("digits_cnn"), digits, ["block3"], limit=900, seed=1)["block3"]
    return acts.vectors


def test_mapper_on_ray_builds_the_local_graph(digits_block3):
    params = dict(n_intervals=12, overlap=0.4, min_samples=5)
    local = Mapper(**params).fit(digits_block3)
    fractions: list[float] = []
    on_ray = Mapper(engine=RayEngine(), **params).fit(digits_block3, progress=lambda f, m: fractions.append(f))
    assert on_ray.graph_.n_nodes > 10 and on_ray.graph_.n_edges > 5
    assert on_ray.graph_.to_json() == local.graph_.to_json()
    assert on_ray.neighbors_ is None and fractions == sorted(fractions) and fractions[-1] == 1.0
    generic = dict(clusterer=AgglomerativeClustering(n_clusters=2), n_intervals=6)
    assert Mapper(engine=RayEngine(), **generic).fit(digits_block3).graph_.to_json() == Mapper(**generic).fit(digits_block3).graph_.to_json()


def test_a_killed_clustering_task_is_retried_and_every_element_is_labelled(tmp_path, digits_block3):
    mapper = Mapper(n_intervals=10, overlap=0.3, min_samples=5).fit(digits_block3)
    membership = sp.csc_matrix(mapper.cover_.transform(mapper.lens_values_))
    elements = [membership.indices[membership.indptr[e]:membership.indptr[e + 1]] for e in range(membership.shape[1])]
    largest = int(np.argmax([len(m) for m in elements]))
    marker = tmp_path / "killed"
    labels = cluster_elements(digits_block3, elements, DBSCAN(eps=mapper.eps_, min_samples=5), engine=RayEngine(),
                              on_element=kill_once(str(marker), at=largest))
    assert marker.exists()
    # The local graph's nodes, element by element, as labels.
    graph = mapper.graph_
    for e, members in enumerate(elements):
        want = np.full(len(members), -1)
        for node in np.flatnonzero(graph.node_element == e):
            want[np.isin(members, graph.node_members[node])] = graph.node_cluster[node]
        np.testing.assert_array_equal(labels[e], want, err_msg=f"element {e}")
    assert sum((lab >= 0).any() for lab in labels) == len(set(graph.node_element.tolist()))
    assert os.path.exists(marker)


def test_dashboard_extracts_and_clusters_on_ray_with_progress_from_the_cluster(tmp_path, monkeypatch, digits):
    from zoo.paths import zoo_cache_dir

    (tmp_path / "zoo").symlink_to(zoo_cache_dir())  # the trained digits weights; the store is this folder's
    monkeypatch.setenv("TOPOACT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TOPOACT_ENGINE", "ray")
    from dashboard import services

    services.clear_memory()
    choice = ExtractionSpec("digits_mlp", "digits", ("hidden1",), sampling="random_position", limit=300)
    reports: list[tuple[float, str]] = []
    key, acts = services.get_activations(choice, progress=lambda f, m: reports.append((f, m)))
    mapper_choice = Mapper(n_intervals=10)
    result = services.get_graph(key, acts, mapper_choice, progress=lambda f, m: reports.append((f, m)))

    extracting = [m for _, m in reports if m.startswith("extracting")]
    assert extracting and extracting[-1] == "extracting hidden1 activations: 300 / 300 inputs"
    assert any(m == "Mapper: clustering cover elements on Ray" for _, m in reports)
    assert [f for f, m in reports if m.startswith("Mapper")] == sorted(f for f, m in reports if m.startswith("Mapper"))
    [entry] = services.get_store().list_entries("activations")
    assert entry["storage"] == "parquet" and acts.meta["engine"] == "ray"

    local = extract_activations(zoo.load_model("digits_mlp"), digits, ["hidden1"], limit=300)["hidden1"]
    assert_same_activations(acts, local)
    assert result.graph.to_json() == Mapper(**mapper_choice.get_params()).fit(local.vectors).graph_.to_json()
    services.clear_memory()

"""One graph cache for every surface: the key, get-or-build, and the dashboard and CLI sharing entries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from topoact.activations import ActivationSet
from topoact.cache import Store
from topoact.mapper import Mapper
from topoact.synthetic import blobs
from topoact.workflow import ExtractionSpec, get_or_build_graph, graph_cache_key

REPO = Path(__file__).resolve().parents[1]


def _acts(meta: dict | None = None, seed: int = 0) -> ActivationSet:
    X, labels = blobs(n_blobs=3, n_per_blob=60, dim=4, seed=seed)
    n = X.shape[0]
    base = {"model": "m", "weights_id": "w1", "dataset": "d", "content_hash": "h", "sampling": "pooled",
            "max_positions": 16, "seed": 0, "limit": None, "layout": "nchw", "dropped_nonfinite": 0,
            "predictions": True}
    return ActivationSet("layer1", X, np.arange(n), np.full(n, -1), labels, np.full(n, -1), np.full(n, np.nan),
                         meta={**base, **(meta or {})})


def test_key_depends_on_what_makes_the_graph_and_nothing_else():
    acts = _acts()
    key = graph_cache_key(acts, Mapper(n_intervals=10))
    assert key == graph_cache_key(acts, Mapper(n_intervals=10, n_jobs=2, warm_start=True, device="auto"))
    assert key == graph_cache_key(_acts({"predictions": False, "cached": True}), Mapper(n_intervals=10))
    for changed in ({"weights_id": "w2"}, {"content_hash": "other"}, {"seed": 1}, {"limit": 100},
                    {"dropped_nonfinite": 3}):
        assert graph_cache_key(_acts(changed), Mapper(n_intervals=10)) != key, changed
    assert graph_cache_key(acts, Mapper(n_intervals=11)) != key
    assert graph_cache_key(acts, Mapper(n_intervals=10, eps=0.5)) != key
    assert graph_cache_key(acts, Mapper(n_intervals=10, random_state=1)) != key
    # your own array (no source) and parameters that are not plain data are not cached
    assert graph_cache_key(_acts({"model": None}), Mapper()) is None
    assert graph_cache_key(acts, Mapper(lens=np.zeros(acts.n_rows))) is None


def test_get_or_build_stores_once_and_reads_back_the_same_graph(tmp_path):
    acts = _acts()
    with Store(tmp_path / "c.duckdb") as store:
        first = get_or_build_graph(acts, Mapper(n_intervals=8, eps=2.0), store)
        again = get_or_build_graph(acts, Mapper(n_intervals=8, eps=2.0), store)
        assert (first.from_cache, again.from_cache) == (False, True)
        assert first.key == again.key and again.graph == first.graph and again.eps_used == 2.0
        fresh = get_or_build_graph(acts, Mapper(n_intervals=8, eps=2.0), store, recompute=True)
        assert fresh.from_cache is False and fresh.graph == first.graph
        assert len(store.list_entries("graph")) == 1
        uncached = get_or_build_graph(_acts({"model": None}), Mapper(n_intervals=8, eps=2.0), store)
        assert uncached.key is None and uncached.from_cache is False
        assert len(store.list_entries("graph")) == 1
    nowhere = get_or_build_graph(acts, Mapper(n_intervals=8, eps=2.0), None)
    assert nowhere.key is None and nowhere.graph == first.graph


@pytest.fixture()
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOACT_CACHE_DIR", str(tmp_path))
    return tmp_path


def _mapper_cli(cache: Path, *extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOPOACT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "topoact", "mapper", "--model", "digits_mlp", "--dataset", "digits",
         "--layer", "hidden1", "--limit", "300", "--quiet", *extra],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dashboard_and_mapper_cli_hit_the_same_cache_entry(cache_env):
    from dashboard import services

    choice = ExtractionSpec("digits_mlp", "digits", ("hidden1",), sampling="random_position", limit=300)
    acts_key, acts = services.get_activations(choice)
    built = services.get_graph(acts_key, acts, Mapper())
    assert built.from_cache is False
    store = Store(cache_env / "topoact.duckdb")
    assert [e["key"] for e in store.list_entries("graph")] == [built.key]

    # the command line with its defaults finds the dashboard's graph ...
    summary = _mapper_cli(cache_env)
    assert summary["cached"] is True
    assert summary["nodes"] == built.graph.n_nodes and summary["edges"] == built.graph.n_edges
    assert [e["key"] for e in store.list_entries("graph")] == [built.key]

    # ... and the dashboard finds a graph the command line built
    cli = _mapper_cli(cache_env, "--intervals", "12", "--overlap", "0.4")
    assert cli["cached"] is False
    assert len(store.list_entries("graph")) == 2
    services.clear_memory()
    acts_key, acts = services.get_activations(choice)
    shared = services.get_graph(acts_key, acts, Mapper(n_intervals=12, overlap=0.4))
    assert shared.from_cache is True and shared.graph.n_nodes == cli["nodes"]
    assert len(store.list_entries("graph")) == 2

"""``python -m topoact mapper`` run as a real process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from topoact.mapper import MapperGraph
from topoact.synthetic import blobs

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "topoact", "mapper", *map(str, args)],
        capture_output=True, text=True, cwd=cwd or REPO, env=env, timeout=120,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    X, labels = blobs(n_blobs=3, n_per_blob=200, dim=5, seed=0)
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", labels)
    return folder, X, labels


def test_builds_graph_prints_summary_and_writes_json(data):
    folder, X, labels = data
    out = folder / "graph.json"
    result = run_cli("--input", folder / "X.npy", "--labels", folder / "y.npy", "--intervals", 10,
                     "--overlap", 0.3, "--eps", 2.5, "--min-samples", 5, "--out", out)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["components"] == 3
    assert {"nodes", "edges", "components", "loops", "noise_points", "seconds"} <= set(summary)
    written = json.loads(out.read_text())
    assert written["summary"]["nodes"] == summary["nodes"] == len(written["nodes"])
    node = written["nodes"][0]
    assert {"id", "members", "size", "lens_mean", "label_counts", "purity"} <= set(node)
    assert written["params"]["n_intervals"] == 10
    graph = MapperGraph.from_json(out)
    assert graph.n_components == 3
    for members, purity in zip(graph.node_members, graph.node_data["purity"]):
        assert purity == 1.0 and np.unique(labels[members]).size == 1


def test_parquet_input_with_vector_column_and_label_column(data):
    folder, X, labels = data
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(X.astype(np.float32).ravel()), X.shape[1])
    pq.write_table(pa.table({"activation": vectors, "label": labels}), folder / "acts.parquet")
    result = run_cli("--input", folder / "acts.parquet", "--label-column", "label", "--intervals", 10,
                     "--eps", 2.5, "--out", folder / "g.graphml")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["components"] == 3
    graph = nx.read_graphml(folder / "g.graphml")
    assert nx.number_connected_components(graph) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input", "missing.npy"], "input file not found"),
        (["--input", "{folder}/X.npy", "--overlap", "1.5"], "--overlap must be in [0, 1)"),
        (["--input", "{folder}/X.npy", "--intervals", "0"], "--intervals must be at least 1"),
        (["--input", "{folder}/X.npy", "--eps", "-2"], "--eps must be a positive number"),
        (["--input", "{folder}/X.npy", "--lens", "magic"], "unknown lens 'magic'"),
        (["--input", "{folder}/broken.npy"], "cannot read"),
        (["--input", "{folder}/X.npy", "--labels", "{folder}/short.npy"], "one entry per row"),
        (["--input", "{folder}/X.npy", "--out", "{folder}/g.png"], "--out must end in .json, .graphml, .html"),
        (["--input", "{folder}/nan.npy"], "row(s) with NaN or Inf"),
        (["--input", "{folder}/empty.npy"], "X is empty"),
    ],
)
def test_bad_input_exits_non_zero_with_one_clear_line(data, args, message):
    folder, X, _ = data
    (folder / "broken.npy").write_bytes(b"not an array")
    np.save(folder / "short.npy", np.arange(3))
    with_nan = X.copy()
    with_nan[4, 1] = np.nan
    np.save(folder / "nan.npy", with_nan)
    np.save(folder / "empty.npy", np.empty((0, 5)))
    result = run_cli(*[a.format(folder=folder) for a in args])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_graph_of_cached_zoo_activations_is_cached_too(tmp_path):
    env_dir = tmp_path / "cache"
    args = ["--model", "digits_mlp", "--dataset", "digits", "--untrained", "--limit", "400",
            "--intervals", "8", "--quiet"]

    def run(*extra):
        env = {**os.environ, "PYTHONPATH": str(REPO), "TOPOACT_CACHE_DIR": str(env_dir)}
        return subprocess.run([sys.executable, "-m", "topoact", "mapper", *args, *extra],
                              capture_output=True, text=True, cwd=REPO, env=env, timeout=300)

    first = run("--out", str(tmp_path / "g.json"))
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["cached"] is False and summary["points"] == 400
    assert summary["model"] == "digits_mlp" and summary["layer"]
    second = run()
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["cached"] is True
    assert {k: again[k] for k in ("nodes", "edges", "components", "loops")} == {
        k: summary[k] for k in ("nodes", "edges", "components", "loops")}
    graph = MapperGraph.from_json(tmp_path / "g.json")
    assert graph.n_points == 400 and "purity" in graph.node_data  # digits are labelled
    changed = run("--overlap", "0.5")
    assert json.loads(changed.stdout)["cached"] is False
    missing = run("--layer", "no.such.layer")
    assert missing.returncode == 2 and "unknown layer 'no.such.layer'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_html_output_is_an_offline_page_with_every_node(data):
    folder, X, labels = data
    out = folder / "graph.html"
    result = run_cli("--input", folder / "X.npy", "--labels", folder / "y.npy", "--intervals", 10,
                     "--eps", 2.5, "--out", out)
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    summary = json.loads(result.stdout)
    assert page.count('"id": "cube') == summary["nodes"]  # every node is drawn
    assert "vis-network" in page or "vis.Network" in page
    assert "<script src=\"http" not in page and "<link href=\"http" not in page  # nothing from a CDN

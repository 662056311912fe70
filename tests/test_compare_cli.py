"""``python -m topoact compare`` as a real process: the offline demo at small size, the cache, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMALL_MAPPER = ["--intervals", "10", "--overlap", "0.4", "--min-samples", "3", "--quiet"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh activation and graph cache; model weights come from the repository's zoo folder
    (trained or converted there once, by the zoo's atomic writes) instead of being redone here."""
    folder = tmp_path_factory.mktemp("compare-cache")
    shared_zoo = REPO / "cache" / "zoo"
    shared_zoo.mkdir(parents=True, exist_ok=True)
    (folder / "zoo").symlink_to(shared_zoo.resolve(), target_is_directory=True)
    return folder


def compare(cache: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOPOACT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "topoact", "compare", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=timeout)


def test_digits_cnn_vs_mlp_vs_untrained_controls(cache, tmp_path):
    out = tmp_path / "table.csv"
    runs = ["--models", "digits_cnn", "digits_mlp", "--controls", "--dataset", "digits", "--limit", "300", *SMALL_MAPPER]
    first = compare(cache, *runs, "--csv", str(out), "--plot", str(tmp_path / "trajectory.png"), "--flow",
                    "--stability", str(tmp_path / "stability.png"))
    assert first.returncode == 0, first.stderr
    table = pd.read_csv(out)
    # every default layer of both models, trained and untrained: 4 + 2 layers, twice
    assert len(table) == 12
    assert set(zip(table["model"], table["weights"])) == {
        (m, w) for m in ("digits_cnn", "digits_mlp") for w in ("pretrained", "untrained")}
    assert (table["points"] == 300).all() and not table["cached"].any()
    for _, part in table.groupby(["model", "weights"]):
        assert part["depth"].is_monotonic_increasing and part["depth"].between(0, 1).all()
        assert part["flow_change"].isna().sum() == 1  # the first layer has no previous one
    last = table[table["layer"] == "pool"].set_index("weights")
    # training makes the CNN's last layer separate the classes; its random control does not
    assert last.loc["pretrained", "label_ami"] > last.loc["untrained", "label_ami"] + 0.2
    assert last.loc["pretrained", "weighted_purity"] > last.loc["untrained", "weighted_purity"]
    for picture in ("trajectory.png", "stability.png"):
        assert (tmp_path / picture).read_bytes()[:8] == PNG_MAGIC
    assert "digits_cnn · block1 -> digits_cnn · block2:" in first.stdout and "merges" in first.stdout
    assert "most stable:" in first.stdout and "intervals, overlap" in first.stdout
    # the printed table is the CSV's
    assert first.stdout.splitlines()[0].split()[:4] == ["model", "weights", "layer", "depth"]

    again = compare(cache, *runs, "--csv", str(tmp_path / "again.csv"))
    assert again.returncode == 0, again.stderr
    cached = pd.read_csv(tmp_path / "again.csv")
    assert cached["cached"].all()
    columns = ["nodes", "edges", "loops", "label_ami", "anomalies", "flow_change"]
    pd.testing.assert_frame_equal(cached[columns], table[columns])
    assert "12 graphs from the cache" in again.stderr

    # the mapper command finds the graph compare built (one cache for every surface)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOPOACT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    mapper = subprocess.run([sys.executable, "-m", "topoact", "mapper", "--model", "digits_mlp", "--layer", "hidden2",
                             "--dataset", "digits", "--limit", "300", *SMALL_MAPPER],
                            capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert mapper.returncode == 0, mapper.stderr
    summary = json.loads(mapper.stdout)
    row = table[(table["model"] == "digits_mlp") & (table["weights"] == "pretrained") & (table["layer"] == "hidden2")]
    assert summary["cached"] is True and summary["nodes"] == row["nodes"].item()


def test_mobilenet_vs_efficientnet_on_the_same_images_across_default_layers(cache, tmp_path):
    out = tmp_path / "images.csv"
    result = compare(cache, "--models", "mobilenetv2_100", "tf_efficientnet_lite0", "--dataset", "lfw-faces",
                     "--limit", "40", *SMALL_MAPPER, "--csv", str(out))
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    import zoo

    for model in ("mobilenetv2_100", "tf_efficientnet_lite0"):
        part = table[table["model"] == model]
        assert list(part["layer"]) == list(zoo.get(model).default_layers)
        assert part["depth"].is_monotonic_increasing and 0 < part["depth"].min() and part["depth"].max() <= 1
        assert part["dim"].iloc[-1] == 1280 and (part["points"] == 40).all()
    assert (table["nodes"] > 0).all()


@pytest.mark.parametrize("args, message", [
    (["--models", "no_such_model", "--dataset", "digits"], "no_such_model"),
    (["--models", "digits_cnn", "--dataset", "digits", "--layers", "block9"], "unknown layer 'block9'"),
    (["--models", "digits_cnn", "--dataset", "digits", "--layers", "digits_mlp:hidden1"], "not one of --models"),
    (["--models", "digits_cnn", "--dataset", "digits", "--csv", "table.txt"], "--csv must end in .csv"),
    (["--models", "digits_cnn", "--dataset", "digits", "--overlap", "1.5"], "--overlap must be in [0, 1)"),
    (["--models", "digits_cnn", "--dataset", "polarity"], "takes image input"),
])
def test_bad_input_is_one_clear_line(cache, args, message):
    result = compare(cache, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr

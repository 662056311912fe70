"""``python -m topoact featvis`` end to end: JSON lines, PNG files, the cache, one-line errors."""

from __future__ import annotations

import json

import numpy as np

from topoact.cli import main
from topoact.featvis import from_png

DIGITS = ["featvis", "--model", "digits_cnn", "--dataset", "digits", "--layer", "block3", "--limit", "300",
          "--intervals", "10", "--quiet"]


def lines(capsys) -> tuple[list[dict], str]:
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.out.splitlines() if line.strip()], captured.err


def test_digits_nodes_to_cache_and_files(tmp_path, capsys):
    argv = DIGITS + ["--top", "2", "--steps", "32", "--cache", str(tmp_path / "c.duckdb"), "--out", str(tmp_path / "png")]
    assert main(argv) == 0
    first, _ = lines(capsys)
    assert len(first) == 2 and first[0]["members"] >= first[1]["members"]
    for line in first:
        assert line["cached"] is False and line["steps"] == 32 and line["size"] == 8
        assert 0.5 < line["cosine"] <= 1.0
        assert line["exemplars"] and all(len(group["samples"]) <= 5 for group in line["exemplars"])
        full = from_png((tmp_path / "png" / f"{line['node']}_full.png").read_bytes())
        assert full.shape == (8, 8, 1)
        exemplar = tmp_path / "png" / f"{line['node']}_exemplar_{line['exemplars'][0]['label']}_0.png"
        assert from_png(exemplar.read_bytes()).shape == (64, 64, 1)
    assert main(argv) == 0  # the second run reads every image from the cache
    second, _ = lines(capsys)
    assert [line["cached"] for line in second] == [True, True]
    assert [(line["node"], line["cosine"]) for line in second] == [(line["node"], line["cosine"]) for line in first]


def test_bad_input_is_one_line(tmp_path, capsys):
    cache = ["--cache", str(tmp_path / "c.duckdb")]
    assert main(DIGITS + cache + ["--nodes", "cube99_cluster7", "--steps", "8"]) == 2
    _, err = lines(capsys)
    assert err.count("\n") == 1 and err.startswith("error: unknown node 'cube99_cluster7'; valid nodes: cube")
    assert main(DIGITS + cache + ["--steps", "0"]) == 2
    _, err = lines(capsys)
    assert err.strip() == "error: --steps must be at least 1; got 0"
    assert main(DIGITS + cache + ["--layer", "block9"]) == 2
    _, err = lines(capsys)
    assert err.count("\n") == 1 and "block9" in err and "block3" in err


def test_text_model_gets_nearest_sentences_and_vocabulary(tmp_path, capsys):
    argv = ["featvis", "--model", "all-MiniLM-L6-v2", "--dataset", "polarity", "--layer", "encoder.layer.2",
            "--limit", "60", "--intervals", "5", "--min-samples", "3", "--top", "1", "--quiet",
            "--cache", str(tmp_path / "c.duckdb")]
    assert main(argv) == 0
    (line,), _ = lines(capsys)
    assert line["members"] >= 3 and 1 <= len(line["nearest"]) <= 10
    assert all(item["token"] and item["token"] != "[CLS]" for item in line["nearest"])
    distances = [item["distance"] for item in line["nearest"]]
    assert distances == sorted(distances)
    assert len(line["vocabulary"]) == 15 and np.all(np.diff([c for _, c in line["vocabulary"]]) <= 0)

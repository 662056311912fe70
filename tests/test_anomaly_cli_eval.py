"""The anomalies CLI end to end, and the injected-noise evaluation at small size."""

from __future__ import annotations

import numpy as np
import pytest

from topoact.cli import main


def test_cli_ranks_digits_and_caches(tmp_path, capsys):
    db = str(tmp_path / "c.duckdb")
    out = tmp_path / "ranked.csv"
    argv = ["anomalies", "--model", "digits_mlp", "--dataset", "digits", "--layer", "hidden2",
            "--limit", "300", "--top", "5", "--csv", str(out), "--cache", db, "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "reasons" in printed and len(printed.strip().splitlines()) == 2 + 5
    import pandas as pd

    table = pd.read_csv(out, index_col=0)
    assert len(table) == 300 and table["rank"].tolist() == list(range(1, 301))
    assert table["combined"].is_monotonic_decreasing
    assert main(argv) == 0  # second run reads the cached scores: same output
    assert capsys.readouterr().out == printed


def test_cli_stability_and_structure(tmp_path, capsys):
    db = str(tmp_path / "c.duckdb")
    argv = ["anomalies", "--model", "digits_mlp", "--dataset", "digits", "--layer", "hidden1",
            "--limit", "300", "--top", "10", "--cache", db, "--quiet", "--stability", "--structure"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    table, _, rest = printed.partition("\nStructure of hidden1")
    lines = table.strip().splitlines()
    assert "stability" in lines[0] and len(lines) == 2 + 10
    # each shown candidate's stability is a share of the 9 sweep settings
    values = [float(line.split()[5]) for line in lines[2:]]
    assert all(0.0 <= v <= 1.0 and abs(v * 9 - round(v * 9)) < 0.02 for v in values)
    assert max(values) > 0.5  # the strongest candidates persist across settings
    assert "component 1 has" in rest and "Most anomalous nodes:" in rest and "top_samples" in rest
    assert main(argv) == 0  # cached with its sweep: the same output
    assert capsys.readouterr().out == printed


def test_cli_bad_input_one_line(capsys):
    assert main(["anomalies", "--model", "digits_mlp", "--dataset", "digits", "--top", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --top must be at least 1; got 0"


def test_injected_noise_small():
    """5 % flipped digits labels before training the MLP; the combined rank finds them."""
    from bench.anomaly_eval import SETUPS, evaluate_setup

    setup = SETUPS[1]  # digits_mlp: trains in about 2 s
    result, info = evaluate_setup(setup, limit=800, layers=("hidden1",))
    assert info["flipped"] == 32
    combined = result[result["score"] == "combined"].iloc[0]
    assert combined["auroc"] > 0.9
    assert combined["precision_at_k"] > 0.6
    single = result.set_index("score")["auroc"]
    assert single["knn_disagreement"] > 0.85 and single["node_disagreement"] > 0.75

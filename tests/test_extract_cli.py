"""``python -m topoact extract``: one JSON line per layer; bad input is one line and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from topoact.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(["extract", *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), [line for line in captured.err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sampling", "middle"], "unknown sampling 'middle'; valid: random_position"),
        (["--max-positions", "0"], "--max-positions must be >= 1"),
        (["--limit", "0"], "--limit must be >= 1"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--out", "acts.csv"], "--out must end in .npy or .npz"),
        (["--device", "abacus"], "unknown device 'abacus'"),
        (["--nonfinite", "keep"], "unknown --nonfinite 'keep'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, extra: list[str], message: str) -> None:
    code, out, err = run_cli(capsys, "--model", "m", "--dataset", "d", *extra)
    assert code == 2 and out == []
    assert len(err) == 1 and message in err[0] and err[0].startswith("error: ")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu(capsys) -> None:
    code, _, err = run_cli(capsys, "--model", "m", "--dataset", "d", "--device", "cuda")
    assert code == 2 and len(err) == 1 and "no CUDA GPU" in err[0]


def _zoo_with(model: str, dataset: str):
    import zoo

    assert model in zoo.list_models() and dataset in zoo.list_datasets()
    return zoo


def test_unknown_model_and_layer(capsys, tmp_path) -> None:
    _zoo_with("digits_cnn", "digits")
    code, _, err = run_cli(capsys, "--model", "no_such_net", "--dataset", "digits", "--no-cache")
    assert code == 2 and len(err) == 1 and "no_such_net" in err[0] and "digits_cnn" in err[0]
    code, _, err = run_cli(capsys, "--model", "digits_cnn", "--untrained", "--dataset", "digits", "--limit", "5",
                           "--layers", "block9", "--no-cache", "--quiet")
    assert code == 2 and len(err) == 1 and "unknown layer 'block9'" in err[0]
    code, _, err = run_cli(capsys, "--model", "digits_cnn", "--untrained", "--dataset", "digits", "--limit", "5",
                           "--sampling", "cls", "--no-cache", "--quiet")
    assert code == 2 and len(err) == 1 and "does not apply to a image model" in err[0]


def test_extract_prints_a_json_line_per_layer_and_uses_the_cache(capsys, tmp_path) -> None:
    _zoo_with("digits_cnn", "digits")
    db = str(tmp_path / "c.duckdb")
    out_file = tmp_path / "acts.npz"
    args = ["--model", "digits_cnn", "--untrained", "--dataset", "digits", "--limit", "40",
            "--sampling", "gap", "--cache", db, "--quiet"]
    code, out, err = run_cli(capsys, *args, "--out", str(out_file))
    assert code == 0, err
    lines = [json.loads(line) for line in out]
    assert len(lines) >= 1
    first = lines[0]
    assert first["rows"] == 40 and first["samples"] == 40 and first["cached"] is False
    assert first["sampling"] == "gap" and first["model"] == "digits_cnn"
    saved = np.load(out_file)
    assert saved[f"{first['layer']}.vectors"].shape == (40, first["dim"])
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and all(json.loads(line)["cached"] for line in out)

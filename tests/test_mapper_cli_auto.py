"""``python -m topoact mapper`` with the automatic parameters and --confidence N (issue 13)."""

import json

import numpy as np
import pytest

from topoact.cli import main
from topoact.synthetic import embedded_shape


@pytest.fixture(scope="module")
def circle_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-auto") / "circle.npy"
    np.save(path, embedded_shape("circle", 1200, dim=8, noise=0.02, seed=3))
    return path


def _summary(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_auto_intervals_and_confidence(circle_file, capsys):
    code = main(["mapper", "--input", str(circle_file), "--lens", "pca", "--intervals", "auto",
                 "--confidence", "8", "--quiet"])
    assert code == 0
    summary = _summary(capsys)
    assert (summary["components"], summary["loops"]) == (1, 1)
    kinds = [f["kind"] for f in summary["features"]]
    assert kinds == ["component", "loop"]
    loop = summary["features"][1]
    assert loop["confidence"] >= 0.75 and loop["sentence"].endswith("of 8 resamples")


def test_hdbscan_from_the_command_line(circle_file, capsys):
    assert main(["mapper", "--input", str(circle_file), "--lens", "pca", "--intervals", "8",
                 "--clusterer", "hdbscan", "--min-cluster-size", "20", "--quiet"]) == 0
    summary = _summary(capsys)
    assert summary["nodes"] > 0 and summary["eps"] is None


@pytest.mark.parametrize("flags, message", [
    (["--confidence", "0"], "resamples >= 1"),
    (["--eps", "median"], "--eps must be a positive number or one of auto, knee, hausdorff, adaptive"),
    (["--lens", "pca,l2norm", "--intervals", "auto"], "pass an integer n_intervals"),
])
def test_bad_automatic_parameters_are_one_clear_error(circle_file, capsys, flags, message):
    assert main(["mapper", "--input", str(circle_file), "--quiet", *flags]) == 2
    assert message in capsys.readouterr().err

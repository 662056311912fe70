"""Choosing the engine: clear errors, and the product without Ray (no cluster needed here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from topoact.cli import main
from topoact.distributed import RayEngine, resolve_engine
from topoact.mapper import Mapper

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_without_ray_installed_the_product_works_and_the_ray_engine_says_how_to_get_it(tmp_path):
    X = tmp_path / "X.npy"
    np.save(X, np.random.default_rng(0).random((300, 4)))
    # `import ray` fails in this interpreter, as it does where Ray is not installed.
    result = run_python(
        "import sys; sys.modules['ray'] = None\n"
        "from topoact.cli import main\n"
        f"code = main(['mapper', '--input', {str(X)!r}, '--intervals', '5', '--quiet'])\n"
        "assert code == 0, code\n"
        f"sys.exit(main(['mapper', '--input', {str(X)!r}, '--engine', 'ray']))\n"
    )
    assert result.returncode == 2, result.stderr
    assert '"nodes"' in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: the Ray engine needs Ray, which is not installed")
    assert "pip install -r requirements-ray.txt" in errors[0]


def test_an_unreachable_cluster_is_one_line_in_seconds(tmp_path):
    X = tmp_path / "X.npy"
    np.save(X, np.random.default_rng(0).random((50, 3)))
    result = run_python(
        "import sys; from topoact.cli import main\n"
        f"sys.exit(main(['mapper', '--input', {str(X)!r}, '--engine', 'ray', '--ray-address', '127.0.0.1:1']))\n"
    )
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(errors) == 1
    assert errors[0].startswith("error: cannot reach the Ray cluster at 127.0.0.1:1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ray-address", "auto"], "--ray-address applies to --engine ray"),
        (["--actors", "2"], "--actors applies to --engine ray"),
        (["--engine", "ray", "--actors", "0"], "--actors must be at least 1"),
        (["--engine", "ray", "--device", "abacus"], "unknown --device 'abacus' for --engine ray; valid: cpu, cuda, auto"),
    ],
)
def test_engine_arguments_are_checked_before_anything_runs(capsys, argv, message):
    code = main(["extract", "--model", "digits_cnn", "--dataset", "digits", *argv])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and message in err[0]


def test_engine_names_and_options_are_validated():
    assert resolve_engine("local") is None and resolve_engine("ray") == RayEngine()
    with pytest.raises(ValueError, match="unknown engine 'spark'; valid: local, ray"):
        resolve_engine("spark")
    with pytest.raises(ValueError, match="actors must be None or an integer >= 1"):
        RayEngine(actors=0)
    with pytest.raises(ValueError, match="'engine' parameter of Mapper must be"):
        Mapper(engine="spark").fit(np.random.default_rng(0).random((30, 2)))


def test_staging_folders_of_dead_drivers_on_this_host_are_removed(tmp_path):
    import os
    import socket

    from topoact.distributed.extract import remove_abandoned_runs

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    host = socket.gethostname()
    dead = tmp_path / f".partial-run-a@{host}@{dead_pid}"
    alive = tmp_path / f".partial-run-b@{host}@{os.getpid()}"
    elsewhere = tmp_path / f".partial-run-c@another-host.example@{dead_pid}"
    finished = tmp_path / "run-d"
    for folder in (dead, alive, elsewhere, finished):
        (folder / "000-x").mkdir(parents=True)
        (folder / "000-x" / "part-0000000.parquet").write_bytes(b"x")
    assert remove_abandoned_runs(tmp_path) == [dead]
    assert not dead.exists() and alive.exists() and elsewhere.exists() and finished.exists()

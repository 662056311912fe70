"""topoact.mapper.DBSCAN as a drop-in for scikit-learn's: its own test module, and the fast-path switch."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sklearn
from sklearn.cluster import DBSCAN as SklearnDBSCAN

from topoact.mapper import DBSCAN, Mapper, dbscan
from topoact.synthetic import relu_gaussian_mixture

REPO = Path(__file__).resolve().parents[1]
SKLEARN_TESTS = Path(sklearn.__file__).parent / "cluster" / "tests" / "test_dbscan.py"
IMPORT = "from sklearn.cluster import DBSCAN, dbscan\n"


def test_scikit_learn_test_module_passes_against_topoact_dbscan(tmp_path):
    source = SKLEARN_TESTS.read_text()
    assert source.count(IMPORT) == 1, "scikit-learn's test module changed its import line"
    (tmp_path / "test_dbscan_topoact.py").write_text(source.replace(IMPORT, "from topoact.mapper import DBSCAN, dbscan\n"))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "sklearn.conftest",
         "--rootdir", str(tmp_path), str(tmp_path / "test_dbscan_topoact.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
    )
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 30, summary
    assert not re.search(r"failed|error", summary), summary


@pytest.mark.parametrize(
    "params, fast",
    [
        ({}, "euclidean"),
        ({"metric": "minkowski", "p": 2}, "euclidean"),
        ({"metric": "cosine"}, "cosine"),
        ({"metric": "manhattan"}, None),
        ({"metric": "minkowski", "p": 1}, None),
        ({"algorithm": "kd_tree"}, None),
        ({"leaf_size": 10}, None),
        ({"metric_params": {"p": 2}, "metric": "minkowski"}, None),
        ({"metric": "precomputed"}, None),
    ],
)
def test_fast_path_only_where_it_is_exact(params, fast):
    assert DBSCAN(**params).fast_metric == fast


def test_fast_path_and_scikit_learn_agree_on_dense_data():
    X, _ = relu_gaussian_mixture(800, dim=16, n_clusters=4, spread=0.5, seed=3, dtype=np.float64)
    core, labels = dbscan(X, eps=0.8, min_samples=6)
    theirs = SklearnDBSCAN(eps=0.8, min_samples=6).fit(X)
    assert len(set(labels)) > 2
    np.testing.assert_array_equal(labels, theirs.labels_)
    np.testing.assert_array_equal(core, theirs.core_sample_indices_)
    ours = DBSCAN(eps=0.8, min_samples=6).fit(X)
    np.testing.assert_array_equal(ours.components_, theirs.components_)


def test_mapper_with_a_non_euclidean_dbscan_clusters_each_element_with_scikit_learn():
    X, _ = relu_gaussian_mixture(600, dim=8, n_clusters=3, spread=0.5, seed=5, dtype=np.float64)
    ours = Mapper(n_intervals=6, clusterer=DBSCAN(eps=2.5, min_samples=5, metric="manhattan")).fit(X)
    theirs = Mapper(n_intervals=6, clusterer=SklearnDBSCAN(eps=2.5, min_samples=5, metric="manhattan")).fit(X)
    assert ours.neighbors_ is None and ours.graph_.n_nodes > 3
    assert [m.tolist() for m in ours.graph_.node_members] == [m.tolist() for m in theirs.graph_.node_members]

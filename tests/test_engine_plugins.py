"""The Mapper core knows no engine: a third-party engine plugs in and builds the identical graph."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering

from topoact.distributed import RayEngine
from topoact.mapper import ElementClustering, ElementRunner, Mapper
from topoact.synthetic import noisy_circle, y_shape


class ThreadPoolEngine:
    """An engine someone else wrote: every cover element clustered on a pool of threads, largest first.

    It uses only the public core: ``ElementClustering.of`` for the work of one element.
    """

    def __init__(self, workers: int = 2):
        self.workers = workers
        self.calls = 0

    def cluster_elements(self, X, elements, clusterer, *, progress=None):
        self.calls += 1
        job = ElementClustering.of(X, clusterer)
        order = sorted(range(len(elements)), key=lambda e: -len(elements[e]))
        labels: list = [None] * len(elements)
        with ThreadPoolExecutor(self.workers) as pool:
            futures = {e: pool.submit(job, X, elements[e]) for e in order}
            for done, e in enumerate(order, 1):
                labels[e] = futures[e].result()
                if progress is not None:
                    progress(done / len(elements), "clustering on threads")
        return labels


class DropsAnElement(ThreadPoolEngine):
    def cluster_elements(self, X, elements, clusterer, *, progress=None):
        return super().cluster_elements(X, elements, clusterer)[:-1]


@pytest.fixture(scope="module")
def circle():
    return noisy_circle(400, seed=3)


@pytest.mark.parametrize("params", [
    dict(n_intervals=10, overlap=0.4, min_samples=4),
    dict(n_intervals=8, overlap=0.3, eps="knee", min_samples=3, metric="cosine", border="first"),
    dict(n_intervals=6, clusterer=AgglomerativeClustering(n_clusters=2)),
], ids=["dbscan", "dbscan-cosine-knee", "agglomerative"])
def test_a_third_party_engine_builds_the_local_graph(circle, params):
    local = Mapper(**params).fit(circle)
    engine = ThreadPoolEngine()
    fractions: list[float] = []
    plugged = Mapper(engine=engine, **params).fit(circle, progress=lambda f, m: fractions.append(f))
    assert engine.calls == 1
    assert plugged.graph_.n_nodes > 3
    assert plugged.graph_.to_json() == local.graph_.to_json()
    # the engine's own progress arrives inside the fit's range, in order, and the fit ends at 1
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 5
    assert plugged.neighbors_ is None  # a plugged engine clusters each element alone


def test_the_engine_is_not_part_of_the_graph_parameters(circle):
    params = dict(n_intervals=10, overlap=0.4)
    assert (Mapper(engine=ThreadPoolEngine(), **params).fit(circle).graph_.params
            == Mapper(**params).fit(circle).graph_.params)


def test_the_ray_engine_is_such_a_plug_in():
    assert isinstance(RayEngine(), ElementRunner)
    assert isinstance(ThreadPoolEngine(), ElementRunner)
    assert not isinstance(object(), ElementRunner)


@pytest.mark.parametrize("engine", ["ray", "spark", object()])
def test_an_engine_the_core_does_not_know_is_one_clear_error(engine):
    # "ray" is resolved by the command line and the dashboard, not by the core
    with pytest.raises(ValueError, match="'engine' parameter of Mapper must be a str among {'local'} or an object "
                       "implementing 'cluster_elements'"):
        Mapper(engine=engine).fit(y_shape(50))


def test_an_engine_that_loses_an_element_is_one_clear_error(circle):
    with pytest.raises(ValueError, match=r"the engine DropsAnElement returned labels for (\d+) of \d+ cover elements"):
        Mapper(engine=DropsAnElement(), n_intervals=5).fit(circle)


def test_importing_the_core_loads_no_engine_cache_or_extraction():
    code = (
        "import sys, topoact.mapper\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[:2] in (['topoact', 'distributed'], "
        "['topoact', 'extract'], ['topoact', 'cache']) or m == 'ray' or m == 'torch')\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

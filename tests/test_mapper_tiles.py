"""Tile backends of the epsilon-graph search: torch (the CUDA code path, run on CPU here) equals numpy."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from topoact.mapper import Mapper
from topoact.mapper.neighbors import EpsilonGraph
from topoact.mapper.tiles import NumpyTiles, TorchTiles, make_tiles
from topoact.synthetic import relu_gaussian_mixture

torch.set_num_threads(1)


def _edges(graph: EpsilonGraph, n: int) -> set[tuple[int, int]]:
    first, second, local = graph.edges_within(np.arange(n))
    row = np.empty(n, dtype=np.int64)
    row[local] = np.arange(n)
    return {(min(a, b), max(a, b)) for a, b in zip(row[first].tolist(), row[second].tolist())}


def _grid_points() -> np.ndarray:
    """Integer points: many pairs lie exactly at distance 2 (= eps), the re-check's hard case."""
    rng = np.random.default_rng(4)
    return rng.integers(0, 4, size=(700, 6)).astype(np.float64)


@pytest.mark.parametrize("metric, eps", [("euclidean", 2.0), ("cosine", 0.2)])
def test_torch_tiles_on_cpu_give_the_numpy_graph_exactly(metric, eps):
    X = _grid_points() + (1.0 if metric == "cosine" else 0.0)
    lens = np.linalg.norm(X, axis=1)
    cover = sp.csc_matrix(np.ones((X.shape[0], 1), dtype=bool))
    graphs = []
    for tiles in (NumpyTiles(), TorchTiles("cpu")):
        graph = EpsilonGraph.build(X, lens, eps, metric=metric, chunk_size=64, device=tiles)
        graph.extend(cover)
        graphs.append(graph)
    ours, theirs = (_edges(g, X.shape[0]) for g in graphs)
    # Brute force with the float64 rule the search promises (scikit-learn's for euclidean).
    i, j = np.triu_indices(X.shape[0], k=1)
    if metric == "euclidean":
        distance = np.sqrt(np.einsum("ij,ij->i", X[i] - X[j], X[i] - X[j]))
        assert np.sum(distance == eps) > 1000  # many exact ties
    else:
        norm = np.sqrt(np.einsum("ij,ij->i", X, X))
        distance = 1.0 - np.einsum("ij,ij->i", X[i], X[j]) / (norm[i] * norm[j])
    brute = set(zip(i[distance <= eps].tolist(), j[distance <= eps].tolist()))
    assert ours == brute
    assert theirs == brute
    assert graphs[1].pairs_rechecked > 0


def test_mapper_with_torch_tiles_builds_the_same_graph_and_records_no_device():
    X, _ = relu_gaussian_mixture(1200, dim=24, n_clusters=4, spread=0.5, seed=2, dtype=np.float32)
    ours = Mapper(n_intervals=8, eps=1.0, min_samples=5, device="cpu").fit(X)
    torch_cpu = Mapper(n_intervals=8, eps=1.0, min_samples=5, device=TorchTiles("cpu")).fit(X)
    assert ours.graph_.n_nodes > 5
    assert [m.tolist() for m in ours.graph_.node_members] == [m.tolist() for m in torch_cpu.graph_.node_members]
    assert ours.graph_.params == torch_cpu.graph_.params and "device" not in ours.graph_.params


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where there is no CUDA device")
def test_cuda_where_there_is_none_is_one_clear_error():
    with pytest.raises(ValueError, match="no CUDA device"):
        Mapper(device="cuda", eps=1.0).fit(np.eye(5))
    assert make_tiles("auto").name == "numpy"


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        Mapper(device="tpu", eps=1.0).fit(np.eye(5))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_float32_pivot_distances_prune_exactly_far_from_the_origin(dtype):
    """A large common offset makes float32 pivot distances coarse: the pruning bounds must absorb it."""
    rng = np.random.default_rng(9)
    X = (300.0 + rng.integers(0, 5, size=(900, 5)) * 0.01).astype(dtype)
    eps = 0.02
    graph = EpsilonGraph.build(X, np.linalg.norm(X.astype(np.float64), axis=1), eps, chunk_size=32, n_pivots=16)
    graph.extend(sp.csc_matrix(np.ones((X.shape[0], 1), dtype=bool)))
    X64 = X.astype(np.float64)
    i, j = np.triu_indices(X.shape[0], k=1)
    distance = np.sqrt(np.einsum("ij,ij->i", X64[i] - X64[j], X64[i] - X64[j]))
    brute = set(zip(i[distance <= eps].tolist(), j[distance <= eps].tolist()))
    assert len(brute) > 1000
    assert _edges(graph, X.shape[0]) == brute

"""Epsilon-graph tiles on a CUDA device vs numpy on the CPU: the same Mapper graph, and how much faster.

One command, under 5 minutes on a machine with a CUDA GPU (the default sizes):

    python -m bench.gpu_bench [--sizes 100000 300000] [--data cache/bench/X.npy ...]

For each data set it fits ``Mapper(device="cpu", warm_start=True)`` and
``Mapper(device="cuda")`` (both the shared epsilon-graph, numpy vs torch tiles) and the
CPU default ``Mapper(device="cpu")`` (the pruned DBSCAN) with the same parameters (L2-norm lens, 30 intervals, 30 % overlap, DBSCAN
min_samples=10, eps from the auto rule), checks that the three graphs have the same node
member sets and edges, and prints the seconds of both, of their neighbour stages,
and the ratios. Exit status 1 when a graph differs, 2 when torch sees no CUDA device.
Data: ``relu_gaussian_mixture(N, 512)`` (the synthetic rows of mapper_bench) and any
``.npy`` files given with ``--data`` (e.g. the real rows bench/real_activations.py caches).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402


def fit(X: np.ndarray, eps: float, device: str, n_jobs: int, warm_start: bool = True):
    """One timed fit; ``warm_start=True`` (the shared epsilon-graph, the path the GPU tiles serve) by default."""
    from topoact.mapper import Mapper

    lens = np.linalg.norm(X.astype(np.float64), axis=1).reshape(-1, 1)
    mapper = Mapper(lens=lens, n_intervals=30, overlap=0.3, eps=eps, min_samples=10, border="first",
                    n_jobs=n_jobs, device=device, warm_start=warm_start)
    start = time.perf_counter()
    mapper.fit(X)
    return mapper, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 300_000])
    parser.add_argument("--data", nargs="*", default=[], help=".npy files of float32 vectors")
    parser.add_argument("--jobs", type=int, default=-1, help="CPU threads for the numpy run (-1: all cores)")
    parser.add_argument("--device", default="cuda",
                        help="device of the second run (default cuda; 'torch-cpu' rehearses the script without a GPU)")
    args = parser.parse_args()

    import torch
    from threadpoolctl import threadpool_info

    from topoact.mapper import choose_eps
    from topoact.mapper.neighbors import resolve_n_jobs
    from topoact.synthetic import relu_gaussian_mixture

    from topoact.mapper.tiles import TorchTiles

    rehearsal = args.device == "torch-cpu"
    device = TorchTiles("cpu") if rehearsal else args.device
    if not rehearsal and not torch.cuda.is_available():
        print(f"torch {torch.__version__} sees no CUDA device: nothing to measure", flush=True)
        return 2
    threads = resolve_n_jobs(args.jobs)
    blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info())
    gpu_name = "torch on the CPU (rehearsal)" if rehearsal else torch.cuda.get_device_name(0)
    print(f"GPU: {gpu_name}; torch {torch.__version__}; CPU run: {threads} thread(s) "
          f"of {os.cpu_count()} cores, BLAS 1 per thread ({blas})", flush=True)
    datasets = [(f"synthetic {n:,} x 512", lambda n=n: relu_gaussian_mixture(n, intrinsic_dim=8, spread=0.3, seed=0)[0])
                for n in args.sizes]
    datasets += [(Path(p).name, lambda p=p: np.load(p)) for p in args.data]
    fit(relu_gaussian_mixture(2000, seed=0)[0], 5.0, device, 1)  # CUDA context and kernels, not timed
    all_same = True
    for name, make in datasets:
        X = np.ascontiguousarray(make(), dtype=np.float32)
        eps = round(choose_eps(X, "auto", 10), 3)
        cpu, cpu_s = fit(X, eps, "cpu", args.jobs)
        gpu, gpu_s = fit(X, eps, device, 1)
        pruned, pruned_s = fit(X, eps, "cpu", args.jobs, warm_start=False)  # the CPU default
        same = all([m.tolist() for m in cpu.graph_.node_members] == [m.tolist() for m in other.graph_.node_members]
                   and np.array_equal(cpu.graph_.edges, other.graph_.edges) for other in (gpu, pruned))
        all_same &= same
        print(json.dumps({
            "data": name, "shape": list(X.shape), "eps": eps, "identical_graph": bool(same),
            "nodes": cpu.graph_.n_nodes, "cpu_s": round(cpu_s, 2), "cuda_s": round(gpu_s, 2),
            "ratio_total": round(cpu_s / gpu_s, 2), "cpu_pruned_dbscan_s": round(pruned_s, 2),
            "ratio_against_cpu_pruned": round(pruned_s / gpu_s, 2),
            "cpu_neighbors_s": round(cpu.timings_["neighbors"], 2), "cuda_neighbors_s": round(gpu.timings_["neighbors"], 2),
            "ratio_neighbors": round(cpu.timings_["neighbors"] / max(gpu.timings_["neighbors"], 1e-9), 2),
            "pairs_rechecked_cpu_cuda": [cpu.neighbors_.pairs_rechecked, gpu.neighbors_.pairs_rechecked],
        }), flush=True)
    return 0 if all_same else 1


if __name__ == "__main__":
    raise SystemExit(main())

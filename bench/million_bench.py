"""1,000,000 x 512 on this machine: topoact's time and extra memory, and a KeplerMapper check on a subsample.

Data: ``relu_gaussian_mixture(1_000_000, 512, intrinsic_dim=8)`` float32 (1.9 GiB), L2-norm
lens, 30 intervals, 30 % overlap, DBSCAN min_samples=10, eps from the auto rule. topoact
runs in its own process (peak memory over the RSS with X loaded: VmHWM, plus the
private memory of its forked workers). KeplerMapper
cannot run at 1M here in reasonable time, so the graph is checked on a seeded 100k
subsample (same parameters, eps from the auto rule on the subsample): topoact and
KeplerMapper must give the same node sets and edges there. Run under the heavy-job lock:

    flock /tmp/topoact-heavy.lock .venv/bin/python -m bench.million_bench [--points 1000000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

from bench.mapper_bench import MIN_SAMPLES, run_child  # noqa: E402
from bench.results import write_section  # noqa: E402

SECTION = "## Mapper at 1M points"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--check", type=int, default=100_000, help="subsample size of the KeplerMapper check")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()

    from topoact.mapper import choose_eps
    from topoact.mapper.neighbors import resolve_n_jobs
    from topoact.synthetic import relu_gaussian_mixture

    threads = resolve_n_jobs(args.jobs)
    print(f"topoact threads: {threads} (BLAS 1 per thread); cores: {os.cpu_count()}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        X = relu_gaussian_mixture(args.points, intrinsic_dim=8, spread=0.3, seed=0)[0]
        x_mib = X.nbytes / 2**20
        eps = round(choose_eps(X, "auto", MIN_SAMPLES), 3)
        path = os.path.join(folder, "X.npy")
        np.save(path, X)
        sub = X[np.sort(np.random.default_rng(0).choice(X.shape[0], args.check, replace=False))]
        sub_path = os.path.join(folder, "sub.npy")
        np.save(sub_path, sub)
        sub_eps = round(choose_eps(sub, "auto", MIN_SAMPLES), 3)
        del X, sub
        ours = run_child("topoact", path, eps, args.jobs, timeout=3600)
        print(json.dumps({k: v for k, v in ours.items() if k != "node_sets"}), flush=True)
        os.unlink(path)
        check_ours = run_child("topoact", sub_path, sub_eps, args.jobs, timeout=1800)
        check_theirs = run_child("kmapper", sub_path, sub_eps, args.jobs, timeout=3600)
    same = check_ours["node_sets"] == check_theirs["node_sets"] and check_ours["edges"] == check_theirs["edges"]
    recover = " / ".join(f"{v:.1f}" for v in ours["recover_seconds"].values())
    text = "\n".join([
        SECTION,
        "",
        f"`bench/million_bench.py`, run {time.strftime('%Y-%m-%d')} on this machine ({os.cpu_count()} cores, "
        f"topoact n_jobs={threads}: forked worker processes). `relu_gaussian_mixture({args.points:,}, 512, intrinsic_dim=8)` float32, "
        f"L2-norm lens, 30 intervals, 30 % overlap, DBSCAN min_samples={MIN_SAMPLES}, eps {eps} (auto rule). "
        f"Graph check: a seeded {args.check:,} subsample (eps {sub_eps}, auto rule on it), topoact vs KeplerMapper.",
        "",
        "| N | topoact s | goal | extra MiB | X MiB | extra / X | nodes | edges | re-cover s (40 int. / 25 % ov.) "
        f"| {args.check // 1000}k check: topoact s | KeplerMapper s | identical |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
        f"| {args.points:,} | {ours['seconds']:.1f} | < 180 | {ours['peak_extra_mib']:.0f} | {x_mib:.0f} "
        f"| {ours['peak_extra_mib'] / x_mib:.2f} | {ours['nodes']} | {ours['edges']} | {recover} "
        f"| {check_ours['seconds']:.1f} | {check_theirs['seconds']:.1f} | {'yes' if same else 'NO'} |",
        "",
        f"Stages (s): {json.dumps(ours['stages'])}; pruned DBSCAN: {ours['search'].get('pairs_computed', 0):,} "
        f"distances computed, {ours['search'].get('leaf_pairs_skipped', 0):,} leaf pairs skipped; of the extra "
        f"memory, {ours.get('worker_peak_mib', 0):.0f} MiB is the forked workers' private peak. Re-cover: the "
        "fitted estimator refit with another cover (the pruned search runs again).",
    ])
    print(text)
    if not args.no_results:
        write_section(SECTION, text)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

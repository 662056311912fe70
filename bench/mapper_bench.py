"""Mapper engine benchmark: topoact vs KeplerMapper (the library TopoAct used), same data, same run.

Data: ReLU-like synthetic activations (a seeded mixture of 20 Gaussian clusters in
512-D, per-sample gain, through ReLU; float32). Each cluster's covariance is low
rank (8 latent directions plus small isotropic noise), as activations of trained
networks have an intrinsic dimension far below their width; one extra row at 100k
uses isotropic clusters, the hard case for topoact's pruning. L2-norm lens, 30
intervals, 30 % overlap, DBSCAN min_samples=10 and eps from the auto rule (0.9
quantile of the 9-NN distance) on each data set, the same eps for both engines. Each engine runs in its own
process so its peak memory can be read (VmHWM over the RSS before the fit, with
the input already loaded, plus the private memory of topoact's forked workers). The graphs are compared node for node.

Real-activation rows (``bench/real_activations.py``: MobileNetV2 and EfficientNet-Lite0 at two
layers each, every spatial position of seeded random crops of the scikit-image photos;
MiniLM token vectors) run next to the synthetic ones, KeplerMapper in the same run. topoact
runs with 1 and 2 threads. Run it under the heavy-job lock:

    flock /tmp/topoact-heavy.lock .venv/bin/python -m bench.mapper_bench [--sizes 100000] [--real 0 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

from bench.results import write_section  # noqa: E402

from topoact.mapper.builder import PROCESS_MIN_ROWS, SHARED_GRAPH_MAX_PAIRS_PER_POINT  # noqa: E402
from topoact.mapper.scale import EPS_RULES  # noqa: E402

SECTION = "## Mapper engine"
SECTION_AUTOMATIC = "## Mapper engine, automatic eps"
KMAPPER_LIMIT_S = 600.0
MIN_SAMPLES = 10
N_INTERVALS = 30
OVERLAP = 0.3
INTRINSIC_DIM = 8


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def worker_private_kib() -> int:
    """Private memory (KiB) of this process's child processes now: topoact's forked workers.

    Pages they share with this process (X, read only) are not counted; what they allocate is.
    """
    total = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            pids = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue  # exited meanwhile
            total += sum(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Private_"))
    return total


class WorkerMemory:
    """Peak of :func:`worker_private_kib` while the block runs, sampled every 100 ms on a thread.

    Added to this process's own peak it bounds the fit's extra memory from above (the two
    peaks need not coincide); a peak shorter than a sample can be missed.
    """

    def __enter__(self):
        import threading

        self.peak_kib, self._stop = 0, threading.Event()

        def sample():
            while not self._stop.wait(0.1):
                self.peak_kib = max(self.peak_kib, worker_private_kib())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def child(engine: str, data_path: str, eps: float | str, out_path: str, n_jobs: int, warm: bool = False) -> None:
    """Run one engine on the saved data; write timing, memory and node sets."""
    import kmapper  # noqa: F401  (imports before the memory baseline)
    from sklearn.cluster import DBSCAN

    from topoact.mapper import Mapper

    X = np.load(data_path)
    lens = np.linalg.norm(X.astype(np.float64), axis=1).reshape(-1, 1)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark
    before = memory_kib("VmRSS")
    result: dict = {"engine": engine}
    if engine == "kmapper":
        start = time.perf_counter()
        graph = kmapper.KeplerMapper(verbose=0).map(
            lens, X, cover=kmapper.Cover(n_cubes=N_INTERVALS, perc_overlap=OVERLAP),
            clusterer=DBSCAN(eps=eps, min_samples=MIN_SAMPLES),
        )
        result["seconds"] = time.perf_counter() - start
        nodes = [sorted(members) for members in graph["nodes"].values()]
        result["edges"] = sum(len(targets) for targets in graph["links"].values())
    else:
        # Mapper's defaults: each cover element runs the pruned exact DBSCAN.
        mapper = Mapper(lens=lens, n_intervals=N_INTERVALS, overlap=OVERLAP, eps=eps,
                        min_samples=MIN_SAMPLES, border="first", n_jobs=n_jobs)
        with WorkerMemory() as workers:
            start = time.perf_counter()
            mapper.fit(X)
            result["seconds"] = time.perf_counter() - start
        result["eps_used"] = mapper.eps_
        result["stages"] = {k: round(v, 3) for k, v in mapper.timings_.items()}
        nodes = [m.tolist() for m in mapper.graph_.node_members]
        result["edges"] = mapper.graph_.n_edges
        result["search"] = dict(mapper.search_stats_)
        # The fit, not the re-covers: this process's peak plus its forked workers' private peak.
        result["peak_extra_mib"] = (memory_kib("VmHWM") - before + workers.peak_kib) / 1024
        result["worker_peak_mib"] = workers.peak_kib / 1024
        # Re-cover: same data and eps, another cover (the pruned search runs again).
        result["recover_seconds"] = recover_seconds(mapper, X)
        if warm:
            # The shared epsilon-graph (warm_start=True): its first fit, then the same re-covers
            # (pairs already examined are not examined again).
            shared = Mapper(lens=lens, n_intervals=N_INTERVALS, overlap=OVERLAP, eps=eps,
                            min_samples=MIN_SAMPLES, border="first", n_jobs=n_jobs, warm_start=True)
            start = time.perf_counter()
            shared.fit(X)
            result["warm_fit_seconds"] = round(time.perf_counter() - start, 3)
            result["warm_identical"] = [m.tolist() for m in shared.graph_.node_members] == nodes
            result["warm_shared"] = shared.neighbors_ is not None  # else the graph was too dense to pay
            result["warm_pairs_estimate"] = shared.pairs_within_estimate_
            result["warm_recover_seconds"] = recover_seconds(shared, X)
    result.setdefault("peak_extra_mib", (memory_kib("VmHWM") - before) / 1024)
    result["nodes"] = len(nodes)
    result["node_sets"] = sorted(nodes)
    Path(out_path).write_text(json.dumps(result))


def recover_seconds(mapper, X) -> dict:
    """Seconds of refitting ``mapper`` with two other covers (40 intervals; 25 % overlap)."""
    seconds = {}
    for n_intervals, overlap in ((40, 0.3), (30, 0.25)):
        mapper.set_params(n_intervals=n_intervals, overlap=overlap)
        start = time.perf_counter()
        mapper.fit(X)
        seconds[f"{n_intervals}x{overlap}"] = round(time.perf_counter() - start, 3)
    return seconds


def run_child(engine, data_path, eps, n_jobs, timeout, warm=False):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    cmd = [sys.executable, "-m", "bench.mapper_bench", "--child", engine, data_path, repr(eps), out, str(n_jobs),
           "warm" if warm else "cold"]
    subprocess.run(cmd, check=True, timeout=timeout, cwd=REPO)
    result = json.loads(Path(out).read_text())
    os.unlink(out)
    return result


def automatic_row(args) -> int:
    """100k x 512 (ID 8) with the default automatic eps: topoact's fit (the choice included) vs KeplerMapper.

    KeplerMapper has no rule; it is given the eps topoact chose, so both build the same
    graph (checked node for node). The fixed-eps rows of the main section give
    KeplerMapper at the 0.9-quantile eps.
    """
    from topoact.mapper import Mapper
    from topoact.synthetic import relu_gaussian_mixture

    rule = Mapper().get_params()["eps"]
    n_jobs = args.jobs[-1]
    with tempfile.TemporaryDirectory() as folder:
        X, _ = relu_gaussian_mixture(100_000, intrinsic_dim=INTRINSIC_DIM, spread=0.3, seed=0)
        path = os.path.join(folder, "X.npy")
        np.save(path, X)
        del X
        ours = run_child("topoact", path, rule, n_jobs, timeout=1800)
        theirs = run_child("kmapper", path, ours["eps_used"], n_jobs, timeout=3600)
    same = ours["node_sets"] == theirs["node_sets"] and ours["edges"] == theirs["edges"]
    ratio = theirs["seconds"] / ours["seconds"]
    text = "\n".join([
        SECTION_AUTOMATIC,
        "",
        f"`bench/mapper_bench.py --automatic`, run {time.strftime('%Y-%m-%d')} on this machine "
        f"({os.cpu_count()} cores, topoact n_jobs={n_jobs}: forked worker processes): the 100,000 x 512 row (intrinsic dimension "
        f"{INTRINSIC_DIM}, L2-norm lens, {N_INTERVALS} intervals, {int(OVERLAP * 100)} % overlap, min_samples "
        f"{MIN_SAMPLES}) with Mapper's default eps rule `{rule}` chosen inside topoact's timed fit; KeplerMapper "
        "(no rule of its own) given the eps topoact chose, in the same run. Goal: >= 5x.",
        "",
        "| N | eps rule | eps chosen | topoact s (with the choice) | of it: choosing eps | KeplerMapper s | speed-up | identical graph | nodes |",
        "|---:|---|---:|---:|---:|---:|---:|:---:|---:|",
        f"| 100,000 | {rule} | {ours['eps_used']:.4g} | {ours['seconds']:.2f} | {ours['stages'].get('eps', 0):.2f} "
        f"| {theirs['seconds']:.1f} | {ratio:.1f}x | {'yes' if same else 'NO'} | {ours['nodes']} |",
        "",
        "topoact stages: " + json.dumps(ours["stages"]),
    ])
    print(text)
    if not args.no_results:
        write_section(SECTION_AUTOMATIC, text)
    return 0 if same else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 50_000, 100_000, 300_000])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2],
                        help="topoact thread counts to run (the last is compared with KeplerMapper)")
    parser.add_argument("--real", nargs="*", default=None,
                        help="real-activation rows of bench/real_activations.py to run (names or indices; "
                             "none given: all; default: all)")
    parser.add_argument("--no-real", action="store_true", help="skip the real-activation rows")
    parser.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    parser.add_argument("--no-isotropic", action="store_true", help="skip the isotropic-cluster row at 100k")
    parser.add_argument("--automatic", action="store_true",
                        help="only the 100k row with the automatic eps (its own section of RESULTS.md)")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, data_path, eps, out, n_jobs, warm = args.child
        child(engine, data_path, eps.strip("'") if eps.strip("'") in EPS_RULES else float(eps), out, int(n_jobs),
              warm == "warm")
        return 0
    if args.automatic:
        return automatic_row(args)

    from threadpoolctl import threadpool_info

    from bench import real_activations
    from topoact.mapper import choose_eps
    from topoact.mapper.neighbors import resolve_n_jobs
    from topoact.synthetic import relu_gaussian_mixture

    load_before = os.getloadavg()[0]
    jobs = [resolve_n_jobs(j) for j in args.jobs]
    blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info())
    print(f"topoact n_jobs: {jobs} (BLAS 1 per worker); KeplerMapper: {blas}; cores: {os.cpu_count()}", flush=True)
    # (label, data kind, make X)
    cases: list[tuple[str, str, object]] = []
    for n in args.sizes:
        cases.append((f"{n:,}", f"synthetic ID {INTRINSIC_DIM}",
                      lambda n=n: relu_gaussian_mixture(n, intrinsic_dim=INTRINSIC_DIM, spread=0.3, seed=0)[0]))
        if n == 100_000 and not args.no_isotropic:
            cases.append((f"{n:,}", "synthetic iso",
                          lambda n=n: relu_gaussian_mixture(n, intrinsic_dim=None, spread=0.3, seed=0)[0]))
    if not args.no_real:
        wanted = args.real
        for k, row in enumerate(real_activations.ROWS):
            if wanted and row.name not in wanted and str(k) not in wanted:
                continue
            cases.append((None, f"real: {row.name}", lambda row=row: real_activations.load_row(row)))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for label, kind, make in cases:
            X = make()
            n, dim = X.shape
            eps = round(choose_eps(X, "auto", MIN_SAMPLES), 3)
            path = os.path.join(folder, "X.npy")
            np.save(path, X)
            x_mib = X.nbytes / 2**20
            del X
            ours = {j: run_child("topoact", path, eps, j, timeout=1800, warm=j == jobs[-1]) for j in jobs}
            best = ours[jobs[-1]]
            theirs = run_child("kmapper", path, eps, jobs[-1], timeout=3600) if n <= 300_000 else None
            same = {j: theirs is not None and o["node_sets"] == theirs["node_sets"] and o["edges"] == theirs["edges"]
                    for j, o in ours.items()}
            rows.append((n, dim, kind, eps, ours, theirs, same, x_mib))
            print(json.dumps({"n": n, "dim": dim, "data": kind, "eps": eps,
                              "topoact_s": {j: round(o["seconds"], 2) for j, o in ours.items()},
                              "kmapper_s": None if theirs is None else round(theirs["seconds"], 2),
                              "ratio": None if theirs is None else round(theirs["seconds"] / best["seconds"], 2),
                              "identical": same, "stages": best["stages"], "recover_s": best["recover_seconds"],
                              "topoact_mib": round(best["peak_extra_mib"]),
                              "kmapper_mib": None if theirs is None else round(theirs["peak_extra_mib"]),
                              "search": best["search"]}),
                  flush=True)
            os.unlink(path)

    j1, jn = jobs[0], jobs[-1]
    lines = [
        SECTION,
        "",
        f"`bench/mapper_bench.py`, run {time.strftime('%Y-%m-%d')} on this machine ({os.cpu_count()} cores, "
        f"load average {load_before:.2f} at the start; ratios against KeplerMapper measured in the same run are "
        "what counts). Synthetic rows: "
        f"`relu_gaussian_mixture(N, 512, 20 clusters, spread=0.3, intrinsic_dim={INTRINSIC_DIM})` float32 "
        "(\"iso\": isotropic clusters, the hard case for pruning). Real rows: `bench/real_activations.py`, every "
        "spatial position (image) or token (text) of a layer of the zoo's offline models on seeded random crops "
        "of the scikit-image photos / the offline texts. L2-norm lens, "
        f"{N_INTERVALS} intervals, {int(OVERLAP * 100)} % overlap, DBSCAN min_samples={MIN_SAMPLES}, eps from "
        "the auto rule (0.9 quantile of the 9-NN distance) on each data set, the same for both engines. "
        f"topoact: n_jobs {j1} and {jn}, BLAS limited to 1 per worker (speed-up: the n_jobs={jn} run; from "
        f"{PROCESS_MIN_ROWS:,} element rows on its workers are forked processes, below that threads); "
        f"KeplerMapper: scikit-learn defaults ({blas}). Peak extra memory: VmHWM minus RSS before the fit, "
        "input already loaded, plus the peak private memory of topoact's worker processes (sampled every 100 ms). "
        "topoact runs Mapper's defaults: each cover element clustered by the pruned exact "
        "DBSCAN (`topoact/mapper/pruned.py`: core tests stop at min_samples neighbours, leaf pairs already joined "
        "are skipped, no epsilon-graph is listed). Re-cover: the fitted estimator refit with another cover "
        "(the pruned search runs again). warm_start: the same estimator with `warm_start=True` (the dashboard's and "
        "the stability sweep's), which keeps one epsilon-graph for all covers where it pays (at most "
        f"{SHARED_GRAPH_MAX_PAIRS_PER_POINT} estimated pairs per point within eps sharing a cover element; else "
        "\"pruned\": it runs the pruned search, the estimate given): its first fit and the same two "
        "re-covers (pairs already examined are not examined again); its graph is checked against the default's. "
        "Identical: same node member sets and same number of edges as KeplerMapper, for every thread count.",
        "",
        f"| N | D | data | eps | topoact s (n_jobs={j1}) | topoact s (n_jobs={jn}) | KeplerMapper s | speed-up | identical graph "
        "| nodes | edges | topoact extra MiB | KeplerMapper extra MiB | X MiB | re-cover s (40 int. / 25 % ov.) "
        "| warm_start: first fit s | warm_start: re-cover s |",
        "|---:|---:|:---|---:|---:|---:|---:|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, dim, kind, eps, ours, theirs, same, x_mib in rows:
        best = ours[jn]
        recover = " / ".join(f"{v:.2f}" for v in best["recover_seconds"].values())
        warm_recover = " / ".join(f"{v:.2f}" for v in best.get("warm_recover_seconds", {}).values()) or "-"
        warm_fit = f"{best['warm_fit_seconds']:.2f}" if "warm_fit_seconds" in best else "-"
        if best.get("warm_shared") is False:
            warm_fit += f" (pruned: ~{best['warm_pairs_estimate'] / 1e6:.0f} M pairs)"
        if best.get("warm_identical") is False:
            warm_fit += " (graph differs!)"
        if theirs is None:
            their_s, ratio, their_mem, identical = "not run", "-", "-", "-"
        else:
            their_s = f"{theirs['seconds']:.1f}"
            ratio = f"{theirs['seconds'] / best['seconds']:.1f}x"
            their_mem = f"{theirs['peak_extra_mib']:.0f}"
            identical = "yes" if all(same.values()) else "NO"
        lines.append(
            f"| {n:,} | {dim} | {kind} | {eps} | {ours[j1]['seconds']:.2f} | {best['seconds']:.2f} | {their_s} | {ratio} "
            f"| {identical} | {best['nodes']} | {best['edges']} | {best['peak_extra_mib']:.0f} | {their_mem} "
            f"| {x_mib:.0f} | {recover} | {warm_fit} | {warm_recover} |"
        )
    lines += ["", f"topoact stage seconds per row (n_jobs={jn}), distances computed and leaf pairs skipped "
              "(all pairs of a row: N^2/2):", ""]
    for n, dim, kind, eps, ours, theirs, same, x_mib in rows:
        best = ours[jn]
        search = best["search"]
        lines.append(f"- {kind} {n:,}: {json.dumps(best['stages'])}; {search.get('pairs_computed', 0):,} distances, "
                     f"{search.get('leaf_pairs_skipped', 0):,} leaf pairs skipped")
    text = "\n".join(lines)
    print(text)
    if not args.no_results:
        write_section(SECTION, text)
    return 0 if all(all(row[6].values()) or row[5] is None for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

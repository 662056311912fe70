"""Seconds per node feature visualization, and how well it reaches the node's mean.

For each model and layer: the activations of a real dataset (digits models on the 1,797
scikit-learn digits; the ImageNet models on scikit-image's 21 photos with 16 positions
each), a Mapper graph (L2-norm lens, 10 intervals, 30 % overlap, DBSCAN min_samples 5,
eps auto), and the largest nodes' visualizations at the default settings (256 steps; 8 px
for the digits models, 128 px for the ImageNet models). Measured per node: wall and CPU
seconds, and the cosine between the node's mean and the layer's vector for the optimised
image, next to three baselines measured in the same run: 32 uniform-noise images (mean
and best), the dataset's mean input image, and the mean input image of the node's own
members. Also, per ImageNet layer, one forward+backward step that stops at the layer
(what featvis does) against one through the whole network.

Rendering always runs on one torch thread (``topoact.featvis`` pins it: the image is then
the same whatever the caller's setting, and one thread is the faster setting on this
2-core VM).

Usage::

    .venv/bin/python -m bench.featvis_bench [--nodes 3] [--imagenet-nodes 1] [--quick] [--no-results]

Prints a markdown table and replaces the section "## Feature visualization" of
``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

import zoo  # noqa: E402
from bench.results import write_section  # noqa: E402
from topoact.extract.hooks import capture  # noqa: E402
from topoact.featvis import (  # noqa: E402
    RenderParams,
    activation_cosines,
    node_direction,
    node_members,
    node_visualization,
    node_where,
)
from topoact.featvis.exemplars import model_inputs_01  # noqa: E402
from topoact.featvis.render import input_spec, one_torch_thread, render_size  # noqa: E402
from topoact.mapper import Mapper  # noqa: E402
from topoact.workflow import ExtractionSpec, get_or_extract  # noqa: E402

SECTION = "## Feature visualization"
GOALS = {"digits": 5.0, "imagenet": 60.0}  # seconds per node: "a few seconds", "under a minute"
SETUPS = [
    # (model, dataset, layers, kind, extraction)
    ("digits_cnn", "digits", ("block1", "block2", "block3"), "digits", {}),
    ("digits_mlp", "digits", ("hidden1", "hidden2"), "digits", {}),
    ("mobilenetv2_100", "skimage-photos", ("blocks.1", "blocks.2", "blocks.3", "blocks.4", "blocks.5", "blocks.6",
                                           "conv_head"), "imagenet", {"sampling": "all_positions"}),
    ("tf_efficientnet_lite0", "skimage-photos", ("blocks.2", "blocks.4", "conv_head"), "imagenet",
     {"sampling": "all_positions"}),
]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def resized_mean(images: torch.Tensor, side: int) -> torch.Tensor:
    mean = images.mean(0, keepdim=True)
    return torch.nn.functional.interpolate(mean, size=(side, side), mode="bilinear", antialias=True)


def step_seconds(model, layer: str, side: int, whole: bool, repeats: int = 12) -> float:
    """Median CPU seconds of one forward+backward on a ``side`` px image, to ``layer`` or through the network.

    CPU time of this process on one thread: what the step costs, whatever else runs on the machine.
    """
    module = model.module
    channels = input_spec(model)[0]
    times = []
    with one_torch_thread(), torch.enable_grad():
        for _ in range(repeats):
            x = torch.rand(1, channels, side, side, requires_grad=True)
            started = time.process_time()
            if whole:
                out = module(x)
                target = out.sum()
            else:
                with capture(module, [layer], reduce=lambda _n, t: t, stop_after=True) as cap:
                    cap.forward(module, x)
                target = cap.outputs[layer].sum()
            torch.autograd.grad(target, [x])
            times.append(time.process_time() - started)
    return float(np.median(times[1:]))


def run_setup(name, dataset_name, layers, kind, extraction, n_nodes, steps) -> list[dict]:
    model, dataset = zoo.load_model(name), zoo.load_dataset(dataset_name)
    inputs = torch.from_numpy(model_inputs_01(model, dataset.items(range(len(dataset))))).permute(0, 3, 1, 2)
    inputs = inputs.float() / 255.0
    channels = input_spec(model)[0]
    rows = []
    sets = get_or_extract(ExtractionSpec(model, dataset, list(layers), **extraction), store=None)
    for layer in layers:
        acts = sets[layer]
        graph = Mapper(n_intervals=10, overlap=0.3, min_samples=5).fit(acts.vectors).graph_
        params = RenderParams(steps=steps)
        side = render_size(model, params)
        noise = torch.rand(32, channels, side, side, generator=torch.Generator().manual_seed(1))
        whole = step = None
        if kind == "imagenet":
            step, whole = step_seconds(model, layer, side, False), step_seconds(model, layer, side, True)
        for i in np.argsort(-graph.node_sizes, kind="stable")[:n_nodes]:
            node_id, members = node_members(graph, int(i))
            wall, cpu = time.perf_counter(), cpu_seconds()
            vis = node_visualization(model, acts, members, params=params)
            wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            direction, where = node_direction(acts, members), node_where(acts, members)
            noise_cos = activation_cosines(model, layer, noise, direction, where)
            samples = acts.sample_index[members]  # rows of ``inputs``: the whole dataset, in order
            rows.append({
                "model": name, "layer": layer, "kind": kind, "node": node_id, "members": int(members.size),
                "where": vis.where.kind, "side": side, "seconds": wall, "cpu": cpu, "cosine": vis.cosine,
                "noise_mean": float(noise_cos.mean()), "noise_max": float(noise_cos.max()),
                "dataset_mean": float(activation_cosines(model, layer, resized_mean(inputs, side), direction, where)[0]),
                "members_mean": float(activation_cosines(model, layer, resized_mean(inputs[samples], side),
                                                         direction, where)[0]),
                "step": step, "whole": whole,
            })
            line = rows[-1]
            print(f"{name} {layer} {node_id} ({line['members']}): {wall:.1f} s wall, {cpu:.1f} s CPU, "
                  f"cos {vis.cosine:.3f} vs noise {line['noise_mean']:.3f}/{line['noise_max']:.3f}, "
                  f"dataset mean {line['dataset_mean']:.3f}, members' mean {line['members_mean']:.3f}", flush=True)
    return rows


def report(rows: list[dict], steps: int, wall: float, load: tuple[float, float]) -> str:
    head = (
        f"`bench/featvis_bench.py`, run {time.strftime('%Y-%m-%d')} on this machine ({platform.machine()}, "
        f"2 cores, torch {torch.__version__}). Rendering on **1 torch thread** (featvis pins it). Other processes "
        f"shared the 2 cores (load average {load[0]:.1f} at the start, {load[1]:.1f} at the end), so wall times "
        f"are inflated; CPU seconds are this process's own. {steps} Adam steps, Fourier image with jitter/rotation/scale, direction objective "
        "with cossim_pow 4; digits models at their 8 px, ImageNet models at **128 px**. Nodes: the largest of a "
        "10-interval Mapper graph of each layer (digits: 1,797 digits, one random position each; ImageNet "
        "models: 21 scikit-image photos, 16 positions each). Cosines: the node's mean vs the layer's vector for "
        "the optimised image (8-bit, as saved), for 32 uniform-noise images (mean / best), for the dataset's mean "
        "input image and for the mean input image of the node's members, read at the same position.\n\n"
    )
    table = ["| model | layer | node (members) | read at | s / node (wall) | CPU s | cos optimised | "
             "cos noise mean / best | cos dataset mean image | cos members' mean image | CPU ms per step: to the "
             "layer / whole net |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        steps_cell = "" if r["step"] is None else f"{1e3 * r['step']:.0f} / {1e3 * r['whole']:.0f}"
        table.append(
            f"| {r['model']} | {r['layer']} | {r['node']} ({r['members']}) | {r['where']} | {r['seconds']:.1f} | "
            f"{r['cpu']:.1f} | {r['cosine']:.3f} | {r['noise_mean']:.3f} / {r['noise_max']:.3f} | "
            f"{r['dataset_mean']:.3f} | {r['members_mean']:.3f} | {steps_cell} |"
        )
    lines = []
    for kind, goal in GOALS.items():
        chosen = [r for r in rows if r["kind"] == kind]
        if not chosen:
            continue
        worst = max(chosen, key=lambda r: r["seconds"])
        over = [f"{r['model']} {r['layer']}" for r in chosen if r["seconds"] > goal]
        cpu = [r["cpu"] for r in chosen]
        gaps = [r["cosine"] - max(r["noise_mean"], r["dataset_mean"]) for r in chosen]
        member_wins = sum(r["members_mean"] > r["cosine"] for r in chosen)
        lines.append(
            f"- {kind}: {len(chosen)} nodes, median {np.median([r['seconds'] for r in chosen]):.1f} s per node, "
            f"slowest {worst['seconds']:.1f} s ({worst['model']} {worst['layer']}); CPU {min(cpu):.1f} to "
            f"{max(cpu):.1f} s; goal < {goal:.0f} s (wall): "
            + ("**met**" if not over else f"**not met** for {', '.join(over)}")
            + f". Median cosine {np.median([r['cosine'] for r in chosen]):.3f}; optimised minus the better of "
            f"noise (mean) and the dataset's mean image: median {np.median(gaps):+.3f}, smallest {min(gaps):+.3f}. "
            f"The members' own mean image beats the optimised image on {member_wins} of {len(chosen)} nodes."
        )
    ratios = [r["whole"] / r["step"] for r in rows if r["step"]]
    if ratios:
        lines.append(f"- A step through the whole network takes {np.min(ratios):.1f}x to {np.max(ratios):.1f}x "
                     "the time of one that stops at the layer (as featvis does; about 1x at the last layers).")
    lines.append(f"- Whole run: {wall / 60:.1f} min.")
    return f"{SECTION}\n\n" + head + "\n".join(table) + "\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=3, help="largest nodes per digits layer (default 3)")
    parser.add_argument("--imagenet-nodes", type=int, default=1, help="largest nodes per ImageNet layer (default 1)")
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="digits_cnn and two MobileNetV2 layers only")
    parser.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    rows: list[dict] = []
    for name, dataset, layers, kind, extraction in SETUPS:
        if args.quick:
            if name == "digits_mlp" or name == "tf_efficientnet_lite0":
                continue
            layers = layers[:1] if kind == "digits" else ("blocks.4", "conv_head")
        n = args.nodes if kind == "digits" else args.imagenet_nodes
        rows += run_setup(name, dataset, layers, kind, extraction, n, args.steps)
    text = report(rows, args.steps, time.perf_counter() - started, (load_start, os.getloadavg()[0]))
    print(text)
    if not args.no_results:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()

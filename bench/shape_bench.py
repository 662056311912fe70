"""Shape benchmark: do the automatic parameters recover known topology? topoact's eps rules vs KeplerMapper.

Every shape of :data:`topoact.synthetic.SHAPES` (one circle, two disjoint circles, a figure
eight, a "Y", three blobs, a line), in 2-D and rotated into 64-D and 512-D, with planar
noise 0.02 and 0.05, at 2,000 and 20,000 points: 72 cases. Each case is mapped with the
same lens (the first principal component, computed once), 12 intervals, 30 % overlap and
DBSCAN min_samples 5, by

* topoact with ``eps="hausdorff"`` (the default: Carrière–Michel–Oudot's scale),
* topoact with ``eps="adaptive"`` (one eps per cover element),
* topoact with ``eps="auto"`` (the 0.9 quantile of the 4-NN distances; the default before),
* KeplerMapper with one fixed global eps (:data:`KMAPPER_EPS`, the peer row),

and a case is right when the graph has exactly the shape's number of components and of
loops. Loops are counted as the graph's cycle rank, ``edges - nodes + components`` (its
independent cycles; merging chains of degree-2 nodes leaves it unchanged).

    .venv/bin/python -m bench.shape_bench [--sizes 2000 20000] [--no-results]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

from bench.results import write_section  # noqa: E402

SECTION = "## Shape benchmark"
N_INTERVALS = 12
OVERLAP = 0.3
MIN_SAMPLES = 5
KMAPPER_EPS = 0.1
DIMS = (2, 64, 512)
NOISES = (0.02, 0.05)
RULES = ("hausdorff", "adaptive", "auto")


def kmapper_topology(lens: np.ndarray, X: np.ndarray, eps: float) -> tuple[int, int]:
    """(components, loops) of KeplerMapper's graph with DBSCAN at a fixed eps."""
    import kmapper
    import networkx as nx
    from sklearn.cluster import DBSCAN

    graph = kmapper.KeplerMapper(verbose=0).map(
        lens, X, cover=kmapper.Cover(n_cubes=N_INTERVALS, perc_overlap=OVERLAP),
        clusterer=DBSCAN(eps=eps, min_samples=MIN_SAMPLES),
    )
    g = nx.Graph()
    g.add_nodes_from(graph["nodes"])
    g.add_edges_from((a, b) for a, targets in graph["links"].items() for b in targets)
    components = nx.number_connected_components(g)
    return components, g.number_of_edges() - g.number_of_nodes() + components


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args()

    from sklearn.decomposition import PCA

    from topoact.mapper import Mapper
    from topoact.synthetic import SHAPES, embedded_shape

    rows = []
    seconds = {rule: 0.0 for rule in (*RULES, "kmapper")}
    for n in args.sizes:
        for dim in DIMS:
            for noise in NOISES:
                for name, shape in SHAPES.items():
                    X = embedded_shape(name, n, dim=dim, noise=noise, seed=1, dtype=np.float32)
                    lens = PCA(n_components=1, random_state=0).fit_transform(X).astype(np.float64)
                    row = {"shape": name, "n": n, "dim": dim, "noise": noise,
                           "truth": (shape.components, shape.loops)}
                    for rule in RULES:
                        start = time.perf_counter()
                        graph = Mapper(lens=lens, n_intervals=N_INTERVALS, overlap=OVERLAP, eps=rule,
                                       min_samples=MIN_SAMPLES).fit(X).graph_
                        seconds[rule] += time.perf_counter() - start
                        row[rule] = (graph.n_components, graph.n_loops)
                        row[f"{rule}_noise"] = graph.n_noise / n
                    start = time.perf_counter()
                    row["kmapper"] = kmapper_topology(lens, X, KMAPPER_EPS)
                    seconds["kmapper"] += time.perf_counter() - start
                    rows.append(row)
                    print(row, flush=True)

    labels = {"hausdorff": "topoact eps=hausdorff (default)", "adaptive": "topoact eps=adaptive",
              "auto": "topoact eps=auto (0.9 quantile, the old default)",
              "kmapper": f"KeplerMapper, fixed eps {KMAPPER_EPS}"}
    total = len(rows)
    lines = [
        SECTION,
        "",
        f"`bench/shape_bench.py`, run {time.strftime('%Y-%m-%d')}: {total} cases = 6 shapes "
        f"({', '.join(SHAPES)}) x {len(DIMS)} dimensions ({', '.join(map(str, DIMS))}; rotated by a seeded "
        f"orthonormal map) x {len(NOISES)} planar noise levels ({', '.join(map(str, NOISES))}) x "
        f"{len(args.sizes)} sizes ({', '.join(f'{n:,}' for n in args.sizes)}). Lens: first principal "
        f"component (the same array for every engine); {N_INTERVALS} intervals, {int(OVERLAP * 100)} % overlap, "
        f"DBSCAN min_samples {MIN_SAMPLES}. A case is right when the graph has exactly the shape's components "
        "and loops; loops = cycle rank of the graph (edges - nodes + components: its independent cycles, "
        "unchanged by merging chains of degree-2 nodes). Goal: the automatic parameters right in >= 90 % of "
        "the cases.",
        "",
        "| engine / eps | right | share | seconds (all cases) |",
        "|---|---:|---:|---:|",
    ]
    for key in (*RULES, "kmapper"):
        right = sum(row[key] == row["truth"] for row in rows)
        lines.append(f"| {labels[key]} | {right} / {total} | {right / total:.0%} | {seconds[key]:.1f} |")
    lines += [
        "",
        "Every case: (components, loops) found; a star marks a wrong one. Noise: share of points in no node.",
        "",
        "| shape | n | dim | noise | truth | hausdorff | adaptive | auto | KeplerMapper | noise (hausdorff / auto) |",
        "|---|---:|---:|---:|---|---|---|---|---|---|",
    ]

    def cell(found, truth) -> str:
        return f"{found[0]}, {found[1]}" + ("" if found == truth else " *")

    for row in rows:
        truth = row["truth"]
        lines.append(
            f"| {row['shape']} | {row['n']:,} | {row['dim']} | {row['noise']} | {truth[0]}, {truth[1]} | "
            + " | ".join(cell(row[key], truth) for key in (*RULES, "kmapper"))
            + f" | {row['hausdorff_noise']:.1%} / {row['auto_noise']:.1%} |"
        )
    text = "\n".join(lines)
    print(text)
    if not args.no_results:
        write_section(SECTION, text)
    right = sum(row["hausdorff"] == row["truth"] for row in rows)
    return 0 if right >= 0.9 * total else 1


if __name__ == "__main__":
    raise SystemExit(main())

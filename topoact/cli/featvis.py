"""``python -m topoact featvis``: feature visualizations and exemplars of a layer's Mapper nodes.

Builds (or reads from the cache) the Mapper graph of a zoo model's layer, then for every
chosen node optimises its feature visualization and picks its exemplars (image models),
or finds its nearest sentences and aligned vocabulary (text models). Images go to the
cache, where the dashboard finds them, and with ``--out`` also to PNG files. Prints one
JSON line per node.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from topoact import TopoactError
from topoact.cli.extract import activations_from_args, add_source_arguments
from topoact.cli.mapper import fit_graph
from topoact.cli.params import add_mapper_arguments, mapper_params
from topoact.cli.progress import ProgressBar
from topoact.progress import Progress, scaled


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``featvis`` command."""
    parser = subparsers.add_parser(
        "featvis",
        help="feature visualizations and exemplars of Mapper nodes (nearest text for text models)",
        description="For nodes of a layer's Mapper graph: optimise an image whose activation points along "
        "the node's mean (image models) and pick the members nearest it per top class; for text "
        "models the nearest sentences and the aligned vocabulary. Results are cached; one JSON line per node.",
    )
    add_source_arguments(parser, several_layers=False, required=True)
    nodes = parser.add_argument_group("nodes")
    nodes.add_argument("--nodes", nargs="+", default=None, metavar="NODE", help="node ids (default: every node)")
    nodes.add_argument("--top", type=int, default=None, metavar="N", help="only the N largest nodes")
    render = parser.add_argument_group("rendering (image models)")
    render.add_argument("--steps", type=int, default=256, help="optimisation steps (default 256)")
    render.add_argument("--size", type=int, default=None,
                        help="side of the image in pixels (default: 128, or the model's own input when smaller)")
    render.add_argument("--per-class", type=int, default=5, help="exemplars per top class (default 5)")
    render.add_argument("--classes", type=int, default=3, help="top classes with exemplars (default 3)")
    render.add_argument("--out", default=None, metavar="DIR", help="also write PNG files into this folder")
    render.add_argument("--recompute", action="store_true", help="ignore cached graphs and images")
    mapper = parser.add_argument_group("Mapper graph")
    add_mapper_arguments(mapper)
    parser.set_defaults(func=run)
    return parser


def _check(args: argparse.Namespace) -> None:
    """Every flag checked before a model is loaded or trained (the Mapper ones against Mapper's constraints)."""
    mapper_params(args)
    for flag, value in (("--steps", args.steps), ("--per-class", args.per_class), ("--classes", args.classes)):
        if value < 1:
            raise TopoactError(f"{flag} must be at least 1; got {value}")
    if args.top is not None and args.top < 1:
        raise TopoactError(f"--top must be at least 1; got {args.top}")
    if args.size is not None and args.size < 4:
        raise TopoactError(f"--size must be at least 4 pixels; got {args.size}")
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        raise TopoactError(f"--out must be a folder; {args.out} is a file")


def chosen_nodes(graph: Any, names: list[str] | None, top: int | None) -> list[str]:
    """Node ids to visualise: the named ones (checked), else every node; ``top`` keeps the largest."""
    from topoact.featvis.node import node_members

    ids = [node_members(graph, name)[0] for name in names] if names else list(graph.node_ids)
    if top is not None:
        sizes = {node_id: size for node_id, size in zip(graph.node_ids, graph.node_sizes)}
        ids = sorted(ids, key=lambda node_id: (-int(sizes[node_id]), graph.node_ids.index(node_id)))[:top]
    return ids


def _file_name(node_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", node_id)


def run(args: argparse.Namespace) -> int:
    """Compute, cache, print (and write) the nodes' visualizations."""
    _check(args)
    import zoo

    layer = args.layer or zoo.get(args.model).default_layers[0]
    acts = activations_from_args(args, [layer])[layer]
    graph, _ = fit_graph(args, acts.vectors, acts.label if np.any(acts.label >= 0) else None, acts)
    if graph.n_nodes == 0:
        raise TopoactError("the Mapper graph has no nodes (every point was noise); try --eps auto or a smaller --min-samples")
    node_ids = chosen_nodes(graph, args.nodes, args.top)
    model = zoo.load_model(args.model, weights="untrained" if args.untrained else "pretrained",
                           checkpoint=args.checkpoint, device=args.device)
    dataset = (zoo.load_dataset(args.dataset) if args.dataset_path is None
               else zoo.load_dataset(args.dataset, path=args.dataset_path))
    store = None
    if not args.no_cache:
        from topoact.cache import Store

        store = Store(args.cache)
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    with ProgressBar(disable=args.quiet) as bar:
        for i, node_id in enumerate(node_ids):
            bar(i / len(node_ids), f"{node_id} ({i + 1} of {len(node_ids)})")
            if model.entry.modality == "text":
                line = _text_node(model, dataset, acts, graph, node_id)
            else:
                node_share = scaled(bar, i / len(node_ids), (i + 1) / len(node_ids))
                line = _image_node(model, dataset, acts, graph, node_id, args, store, out,
                                   lambda f, m, n=node_id: node_share(f, f"{n}: {m}"))
            bar.write(json.dumps(line))
    return 0


def _image_node(model, dataset, acts, graph, node_id, args, store, out, progress: Progress) -> dict[str, Any]:
    from topoact.featvis.images import to_png
    from topoact.featvis.node import node_exemplars, node_members, node_visualization
    from topoact.featvis.render import RenderParams

    _, members = node_members(graph, node_id)
    params = RenderParams(size=args.size, steps=args.steps, seed=args.seed)
    vis = node_visualization(model, acts, members, params=params, store=store, recompute=args.recompute,
                             progress=progress)
    groups = node_exemplars(model, dataset, acts, members, per_class=args.per_class, n_classes=args.classes,
                            store=store, recompute=args.recompute)
    line: dict[str, Any] = {
        "node": node_id, "members": int(members.size), "cosine": round(vis.cosine, 4),
        "size": vis.params.size, "steps": vis.params.steps, "seconds": vis.seconds, "cached": vis.meta["cached"],
        "where": vis.where.as_dict(),
        "exemplars": [{"label": g.label, "count": g.count,
                       "samples": [item.exemplar.sample_index for item in g.images]} for g in groups],
    }
    if out is not None:
        name = _file_name(node_id)
        (out / f"{name}.png").write_bytes(to_png(vis.patch()))  # the part that reaches the position
        (out / f"{name}_full.png").write_bytes(to_png(vis.image))
        for group in groups:
            for rank, item in enumerate(group.images):
                (out / f"{name}_exemplar_{group.label}_{rank}.png").write_bytes(item.png)
        line["out"] = str(out / f"{name}.png")
    return line


def _text_node(model, dataset, acts, graph, node_id) -> dict[str, Any]:
    from topoact.featvis.node import node_members
    from topoact.featvis.text import text_featvis

    _, members = node_members(graph, node_id)
    result = text_featvis(model, dataset, acts, members)
    return {
        "node": node_id, "members": int(members.size),
        "nearest": [{"text": e.text, "token": e.token, "label": e.label, "distance": round(e.distance, 4)}
                    for e in result.nearest],
        "vocabulary": [[token, round(cosine, 4)] for token, cosine in result.vocabulary],
    }

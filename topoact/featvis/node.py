"""Feature visualizations and exemplars of Mapper nodes, through the cache.

A node is identified by its content, not by its id: the visualization's key holds the
model (name and weights), the layer, a hash of the node's mean vector, where the
objective reads the layer and the render settings; the exemplars' key holds the
activation set's source, a hash of the members' rows and vectors, and the exemplar
settings. The same node found again (another graph, another session, the CLI) is read
back from the DuckDB cache as PNG bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topoact.featvis.errors import FeatvisError
from topoact.featvis.exemplars import EXEMPLAR_SIDE, Exemplar, exemplar_patches, nearest_members
from topoact.featvis.images import from_png, to_png
from topoact.featvis.render import (
    RenderParams,
    Visualization,
    Where,
    check_image_model,
    render_size,
    visualize_direction,
    where_of_position,
)
from topoact.progress import Progress

#: Cache entry kinds (:meth:`topoact.cache.Store.put_images`).
VISUALIZATION_KIND = "featvis"
EXEMPLARS_KIND = "featvis_exemplars"
#: Name of the visualization's image inside its cache entry.
VISUALIZATION_IMAGE = "visualization"
#: What identifies the activations a node was built on (keys of ``ActivationSet.meta``).
SOURCE_FIELDS = ("model", "weights_id", "dataset", "content_hash", "sampling", "max_positions", "seed",
                 "limit", "layout", "layer_shape")


@dataclass
class ExemplarImage:
    """An exemplar and its picture (PNG, :data:`EXEMPLAR_SIDE` pixels on the longer side)."""

    exemplar: Exemplar
    png: bytes


@dataclass
class ClassExemplars:
    """The exemplars of one of a node's top classes.

    Attributes
    ----------
    label : int
        ``-1`` for unlabelled members.
    count : int
        Members of the node with this label.
    images : list of ExemplarImage
        Nearest to the node's mean first.
    """

    label: int
    count: int
    images: list[ExemplarImage] = field(default_factory=list)


def node_members(graph: Any, node: str | int) -> tuple[str, np.ndarray]:
    """``(node id, member rows)`` of a node given by id or by position.

    Raises
    ------
    FeatvisError
        For an unknown node (the message lists some valid ids).
    """
    ids = list(graph.node_ids)
    if isinstance(node, (int, np.integer)) and not isinstance(node, bool):
        if not 0 <= int(node) < len(ids):
            raise FeatvisError(f"node index {node} is out of range; the graph has {len(ids)} nodes")
        index = int(node)
    elif isinstance(node, str) and node in ids:
        index = ids.index(node)
    else:
        shown = ", ".join(ids[:10]) + (f", ... ({len(ids)} in all)" if len(ids) > 10 else "")
        raise FeatvisError(f"unknown node {node!r}; valid nodes: {shown or 'none (the graph is empty)'}")
    return ids[index], np.asarray(graph.node_members[index], dtype=np.int64)


def _check_members(acts: Any, members: np.ndarray) -> np.ndarray:
    members = np.asarray(members, dtype=np.int64).reshape(-1)
    if members.size == 0:
        raise FeatvisError("the node has no members")
    if members.min() < 0 or members.max() >= acts.n_rows:
        raise FeatvisError(
            f"node members reach row {int(members.max())} but the activation set has {acts.n_rows} rows; "
            "the graph was built on other activations"
        )
    return members


def node_direction(acts: Any, members: np.ndarray) -> np.ndarray:
    """The node's mean activation vector (float32, accumulated in float64)."""
    members = _check_members(acts, members)
    return acts.vectors[members].astype(np.float64).mean(axis=0).astype(np.float32)


def node_where(acts: Any, members: np.ndarray) -> Where:
    """Where the objective reads the layer for a node: its members' most common sampled position.

    Pooled sampling (position ``-1``) gives a pooled target; otherwise the most common
    position among the members (ties: the lower one), as a relative location in the
    extraction grid (``acts.meta['layer_shape']``; the centre when it is not recorded).
    """
    members = _check_members(acts, members)
    positions = acts.position[members]
    positions = positions[positions >= 0]
    if positions.size == 0:
        return Where("pooled")
    shape = acts.meta.get("layer_shape")
    if not shape:
        return Where("position", 0.5, 0.5)
    modal = int(np.bincount(positions).argmax())
    return where_of_position(modal, tuple(shape), acts.meta.get("layout", "nchw"))


def _check_source(model: Any, acts: Any, dataset: Any | None = None) -> None:
    name = getattr(getattr(model, "entry", None), "name", None)
    source = acts.meta.get("model")
    if source is not None and name is not None and source != name:
        raise FeatvisError(f"the activations come from model {source!r}, not {name!r}")
    weights = acts.meta.get("weights_id")
    if weights is not None and getattr(model, "weights_id", None) not in (None, weights):
        raise FeatvisError(f"the activations come from other weights of {name!r} ({weights[:12]}...)")
    if dataset is not None:
        expected = acts.meta.get("content_hash")
        if expected is not None and getattr(dataset, "content_hash", expected) != expected:
            raise FeatvisError(f"the activations come from another dataset than {getattr(dataset, 'name', '?')!r}")
        if acts.n_rows and int(acts.sample_index.max()) >= len(dataset):
            raise FeatvisError("the activations index rows the dataset does not have")


def _digest(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def visualization_key(model: Any, layer: str, direction: np.ndarray, where: Where, params: RenderParams,
                      layout: str = "nchw") -> str:
    """Cache key of a node's visualization (``params.size`` resolved)."""
    from topoact.cache import cache_key

    return cache_key(
        kind=VISUALIZATION_KIND, model=str(model.entry.name), weights_id=str(getattr(model, "weights_id", "")),
        layer=str(layer), direction=_digest(np.asarray(direction, dtype=np.float32)), where=where.as_dict(),
        params=params.as_dict(), layout=str(layout),
    )


def exemplars_key(acts: Any, members: np.ndarray, *, per_class: int, n_classes: int | None, metric: str) -> str:
    """Cache key of a node's exemplars."""
    from topoact.cache import cache_key

    members = np.asarray(members, dtype=np.int64)
    source = {name: acts.meta.get(name) for name in SOURCE_FIELDS}
    return cache_key(
        kind=EXEMPLARS_KIND, layer=str(acts.layer), source=_jsonable(source), side=EXEMPLAR_SIDE,
        members=_digest(acts.sample_index[members], acts.position[members], acts.label[members],
                        acts.vectors[members]),
        per_class=int(per_class), n_classes=None if n_classes is None else int(n_classes), metric=str(metric),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class _Request:
    """Everything that fixes a node's visualization, and its cache key."""

    direction: np.ndarray
    where: Where
    params: RenderParams
    layout: str
    key: str


def _request(model: Any, acts: Any, members: np.ndarray, params: RenderParams | None) -> _Request:
    check_image_model(model)
    _check_source(model, acts)
    params = params or RenderParams()
    params = RenderParams(**{**params.as_dict(), "size": render_size(model, params)})
    direction = node_direction(acts, members)
    where = node_where(acts, members)
    layout = acts.meta.get("layout", "nchw")
    return _Request(direction, where, params, layout,
                    visualization_key(model, acts.layer, direction, where, params, layout))


def _from_stored(stored: Any, layer: str, key: str) -> Visualization:
    meta = stored.meta
    return Visualization(
        image=from_png(stored.images[VISUALIZATION_IMAGE]), cosine=float(meta["cosine"]),
        objective=list(meta["objective"]), layer=layer, where=Where(**meta["where"]),
        params=RenderParams(**meta["params"]), seconds=float(meta["seconds"]), grid=tuple(meta["grid"]),
        meta={"cached": True, "key": key},
    )


def stored_visualization(
    model: Any, acts: Any, members: np.ndarray, *, store: Any, params: RenderParams | None = None
) -> Visualization | None:
    """A node's visualization if the cache holds it, else None (nothing is computed)."""
    request = _request(model, acts, _check_members(acts, members), params)
    stored = store.get_images(VISUALIZATION_KIND, request.key)
    if stored is None or VISUALIZATION_IMAGE not in stored.images:
        return None
    return _from_stored(stored, acts.layer, request.key)


def stored_visualizations(
    model: Any, acts: Any, graph: Any, *, store: Any, params: RenderParams | None = None
) -> dict[str, Visualization]:
    """Node id -> visualization, for every node of ``graph`` the cache holds one for (one read)."""
    if getattr(getattr(model, "entry", None), "modality", None) != "image" or graph.n_nodes == 0:
        return {}
    keys = {node_id: _request(model, acts, members, params).key
            for node_id, members in zip(graph.node_ids, graph.node_members)}
    found = store.get_images_many(VISUALIZATION_KIND, list(keys.values()))
    return {node_id: _from_stored(found[key], acts.layer, key) for node_id, key in keys.items()
            if key in found and VISUALIZATION_IMAGE in found[key].images}


def node_visualization(
    model: Any,
    acts: Any,
    members: np.ndarray,
    *,
    params: RenderParams | None = None,
    store: Any = None,
    recompute: bool = False,
    progress: Progress | None = None,
) -> Visualization:
    """The feature visualization of a node's mean activation vector, from the cache or optimised.

    The objective reads the layer where the node's members were most often sampled
    (:func:`node_where`); see :func:`~topoact.featvis.render.visualize_direction`.

    Parameters
    ----------
    model : LoadedModel-like
        The image model ``acts`` came from.
    acts : ActivationSet
        Activations of one layer (``acts.layer``).
    members : ndarray of int
        Rows of ``acts`` in the node (``graph.node_members[i]``).
    params : RenderParams, optional
    store : topoact.cache.Store, optional
        Read from and write to this cache; None computes without caching.
    recompute : bool
        Ignore a cached image (and replace it).
    progress : callable(fraction, message), optional
        Called while optimising (:mod:`topoact.progress`).

    Returns
    -------
    Visualization
        ``meta`` holds ``cached`` and ``key``.

    Raises
    ------
    FeatvisError
        A text model, activations of another model, members outside the activation set.
    """
    members = _check_members(acts, members)
    request = _request(model, acts, members, params)
    if store is not None and not recompute:
        stored = store.get_images(VISUALIZATION_KIND, request.key)
        if stored is not None and VISUALIZATION_IMAGE in stored.images:
            return _from_stored(stored, acts.layer, request.key)
    result = visualize_direction(model, acts.layer, request.direction, where=request.where, params=request.params,
                                 layout=request.layout, progress=progress)
    if store is not None:
        store.put_images(VISUALIZATION_KIND, request.key, {VISUALIZATION_IMAGE: to_png(result.image)}, {
            "model": str(model.entry.name), "dataset": acts.meta.get("dataset"), "layer": acts.layer,
            "cosine": result.cosine, "objective": result.objective, "where": request.where.as_dict(),
            "params": request.params.as_dict(), "seconds": result.seconds, "grid": list(result.grid),
            "members": int(members.size),
        })
    result.meta = {"cached": False, "key": request.key}
    return result


def node_exemplars(
    model: Any,
    dataset: Any,
    acts: Any,
    members: np.ndarray,
    *,
    per_class: int = 5,
    n_classes: int | None = 3,
    metric: str = "euclidean",
    store: Any = None,
    recompute: bool = False,
) -> list[ClassExemplars]:
    """Per top class of a node, the members nearest its mean, as image patches (cached).

    Parameters
    ----------
    model : LoadedModel-like
        The image model ``acts`` came from (its ``prepare`` gives what it saw).
    dataset : Dataset-like
        The dataset ``acts`` came from.
    acts : ActivationSet
    members : ndarray of int
    per_class, n_classes, metric
        As for :func:`~topoact.featvis.exemplars.nearest_members`.
    store : topoact.cache.Store, optional
    recompute : bool

    Returns
    -------
    list of ClassExemplars
        Most common class first.
    """
    check_image_model(model)
    _check_source(model, acts, dataset)
    members = _check_members(acts, members)
    key = exemplars_key(acts, members, per_class=per_class, n_classes=n_classes, metric=metric)
    if store is not None and not recompute:
        hit = store.get_images(EXEMPLARS_KIND, key)
        if hit is not None:
            return [
                ClassExemplars(int(group["label"]), int(group["count"]), [
                    ExemplarImage(Exemplar(**item), hit.images[f"{group['label']}/{rank}"])
                    for rank, item in enumerate(group["exemplars"])
                ])
                for group in hit.meta["classes"]
            ]
    groups = nearest_members(acts, members, node_direction(acts, members), per_class=per_class,
                             n_classes=n_classes, metric=metric)
    chosen = [exemplar for _, _, exemplars in groups for exemplar in exemplars]
    pngs = iter([to_png(patch, EXEMPLAR_SIDE) for patch in exemplar_patches(model, dataset, acts, chosen)])
    result = [ClassExemplars(label, count, [ExemplarImage(e, next(pngs)) for e in exemplars])
              for label, count, exemplars in groups]
    if store is not None:
        images = {f"{group.label}/{rank}": item.png for group in result for rank, item in enumerate(group.images)}
        store.put_images(EXEMPLARS_KIND, key, images, {
            "model": acts.meta.get("model"), "dataset": acts.meta.get("dataset"), "layer": acts.layer,
            "metric": metric, "members": int(members.size),
            "classes": [{"label": g.label, "count": g.count, "exemplars": [i.exemplar.as_dict() for i in g.images]}
                        for g in result],
        })
    return result

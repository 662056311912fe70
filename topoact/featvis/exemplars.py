"""Exemplars of a node: per top class, the members whose activation is closest to the node's mean.

For images the exemplar is the input the model saw (after the model's own resize and
crop) or, when one position was sampled, the patch of it around that position: a square
centred on the position's cell, four cells wide (at least an eighth of the input), the
region the vector mostly describes in a convolutional network
(:func:`~topoact.featvis.render.patch_box`, the same window a visualization's icon shows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from topoact.featvis.errors import FeatvisError
from topoact.featvis.render import Where, input_spec, layer_grid, patch_box, where_of_position

METRICS: tuple[str, ...] = ("euclidean", "cosine")
#: Side (pixels) of stored exemplar images.
EXEMPLAR_SIDE = 64


@dataclass(frozen=True)
class Exemplar:
    """One member of a node chosen as an exemplar.

    Attributes
    ----------
    row : int
        Row of the activation set.
    sample_index : int
        Dataset row of the input.
    position : int
        Sampled position or token (``-1`` pooled).
    label : int
        The input's label (``-1`` unlabelled).
    distance : float
        Distance of the row's vector to the node's mean.
    """

    row: int
    sample_index: int
    position: int
    label: int
    distance: float

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return asdict(self)


def distances_to(vectors: np.ndarray, centre: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Distance of every row of ``vectors`` to ``centre`` (float64).

    Parameters
    ----------
    vectors : ndarray of shape (n, dim)
    centre : ndarray of shape (dim,)
    metric : {'euclidean', 'cosine'}
        Cosine distance is ``1 - cos``.
    """
    if metric not in METRICS:
        raise FeatvisError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    v = np.asarray(vectors, dtype=np.float64)
    c = np.asarray(centre, dtype=np.float64)
    if metric == "euclidean":
        return np.sqrt(np.maximum(((v - c) ** 2).sum(axis=1), 0.0))
    norms = np.linalg.norm(v, axis=1) * np.linalg.norm(c)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - np.where(norms > 0, (v @ c) / norms, 0.0)


def top_classes(labels: np.ndarray, n: int | None) -> list[tuple[int, int]]:
    """``(label, count)`` of the ``n`` most common labels, most common first (ties: smaller label)."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    order = np.lexsort((values, -counts))[: None if n is None else n]
    return [(int(values[k]), int(counts[k])) for k in order]


def nearest_members(
    acts: Any,
    members: np.ndarray,
    centre: np.ndarray,
    *,
    per_class: int = 5,
    n_classes: int | None = 3,
    metric: str = "euclidean",
) -> list[tuple[int, int, list[Exemplar]]]:
    """Per top class of a node, its members closest to ``centre``.

    Parameters
    ----------
    acts : ActivationSet
    members : ndarray of int
        Rows of ``acts`` in the node.
    centre : ndarray of shape (dim,)
        Usually the node's mean vector.
    per_class : int, default 5
    n_classes : int or None, default 3
        The most common labels among the members (None: every label). Unlabelled rows
        form a class of their own (label ``-1``).
    metric : {'euclidean', 'cosine'}

    Returns
    -------
    list of (label, count, exemplars)
        ``count`` members of that label; ``exemplars`` nearest first (ties: lower row).
    """
    members = np.asarray(members, dtype=np.int64)
    if members.size == 0:
        raise FeatvisError("the node has no members")
    if per_class < 1:
        raise FeatvisError(f"per_class must be >= 1, got {per_class}")
    distance = distances_to(acts.vectors[members], centre, metric)
    labels = acts.label[members]
    result = []
    for label, count in top_classes(labels, n_classes):
        in_class = np.flatnonzero(labels == label)
        order = in_class[np.lexsort((members[in_class], distance[in_class]))][:per_class]
        result.append((label, count, [
            Exemplar(row=int(members[k]), sample_index=int(acts.sample_index[members[k]]),
                     position=int(acts.position[members[k]]), label=int(label), distance=float(distance[k]))
            for k in order
        ]))
    return result


def model_inputs_01(model: Any, items: list) -> np.ndarray:
    """The inputs the model sees for ``items`` (after its resize and crop) as ``(N, H, W, C)`` uint8."""
    prepared = model.prepare(items)
    if not hasattr(prepared, "detach"):
        raise FeatvisError("the model's prepare() does not give an image tensor")
    _, _, mean, std = input_spec(model)
    pixels = (prepared.detach().float().cpu() * std + mean).clamp(0, 1)
    return np.rint(pixels.permute(0, 2, 3, 1).numpy() * 255.0).astype(np.uint8)


def exemplar_patches(model: Any, dataset: Any, acts: Any, exemplars: Sequence[Exemplar]) -> list[np.ndarray]:
    """The image (or the patch around the sampled position) of each exemplar, as uint8 pixels.

    Parameters
    ----------
    model : LoadedModel-like
        Its ``prepare`` gives what the model saw; its input config un-normalises it.
    dataset : Dataset-like
        The dataset ``acts`` was extracted from.
    acts : ActivationSet
        Gives the layer's shape and layout at extraction (``meta``).
    exemplars : sequence of Exemplar

    Returns
    -------
    list of ndarray (h, w, C) uint8
    """
    if not exemplars:
        return []
    inputs = model_inputs_01(model, dataset.items([e.sample_index for e in exemplars]))
    shape = acts.meta.get("layer_shape") or []
    layout = acts.meta.get("layout", "nchw")
    patches = []
    for exemplar, pixels in zip(exemplars, inputs):
        where = where_of_position(exemplar.position, tuple(shape), layout) if shape else Where()
        _, rows, cols = layer_grid(tuple(shape), layout)
        top, left, bottom, right = patch_box(where, pixels.shape[0], pixels.shape[1], (rows, cols))
        patches.append(pixels[top:bottom, left:right])
    return patches

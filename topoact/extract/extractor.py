"""Stream a dataset through a model and keep sampled activation vectors of some layers.

Works with anything shaped like ``zoo``'s ``LoadedModel`` and ``Dataset`` (duck typing):

model
    ``.module`` (nn.Module), ``.prepare(items) -> Tensor | dict[str, Tensor]``,
    ``.forward(inputs) -> logits | None``, ``.entry.name``, ``.entry.modality``,
    ``.entry.default_layers``, ``.weights_id``; optionally ``.tokenizer`` (text: its
    ``all_special_ids`` mark the special tokens that random tokens avoid).
dataset
    ``.name``, ``.modality``, ``.labels``, ``.content_hash``, ``len()``,
    ``.items(indices) -> list``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from topoact import __version__
from topoact.activations import ActivationSet
from topoact.extract.hooks import Capture, capture, resolve_layers
from topoact.extract.sampling import LAYOUTS, Sampled, check_sampling, sample, subset_rows
from topoact.progress import Progress

from topoact.extract.names import NONFINITE_POLICIES  # noqa: E402,F401  (re-exported)
_SPECIAL_MASK_KEY = "special_tokens_mask"


@dataclass
class _Batch:
    """What the hook-side reducer needs to know about the batch in flight."""

    sample_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    valid: torch.Tensor | None = None
    candidate: torch.Tensor | None = None


@dataclass
class _Columns:
    """Per-layer accumulator of numpy chunks."""

    vectors: list[np.ndarray] = field(default_factory=list)
    sample_index: list[np.ndarray] = field(default_factory=list)
    position: list[np.ndarray] = field(default_factory=list)
    label: list[np.ndarray] = field(default_factory=list)
    prediction: list[np.ndarray] = field(default_factory=list)
    confidence: list[np.ndarray] = field(default_factory=list)
    label_probability: list[np.ndarray] = field(default_factory=list)
    layer_shape: tuple[int, ...] = ()
    dropped: int = 0


def resolve_device(device: str | torch.device) -> torch.device:
    """Parse ``device`` and check it is usable.

    Raises
    ------
    ValueError
        For an unknown device or CUDA without a GPU.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}; valid: cpu, cuda, cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; valid: cpu, cuda")
    return dev


def _to_device(inputs: Any, device: torch.device) -> Any:
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device, non_blocking=True)
    if isinstance(inputs, Mapping):
        return {k: _to_device(v, device) for k, v in inputs.items()}
    return inputs


def _token_masks(
    inputs: Any, tokenizer: Any
) -> tuple[Any, torch.Tensor | None, torch.Tensor | None, str]:
    """Split a text batch into (model inputs, valid mask, candidate mask, how specials were found)."""
    if not isinstance(inputs, Mapping) or "input_ids" not in inputs:
        return inputs, None, None, "none"
    inputs = dict(inputs)
    special = inputs.pop(_SPECIAL_MASK_KEY, None)
    ids = inputs["input_ids"]
    valid = inputs.get("attention_mask")
    valid = torch.ones_like(ids, dtype=torch.bool) if valid is None else valid.bool()
    source = "special_tokens_mask"
    if special is None:
        special_ids = list(getattr(tokenizer, "all_special_ids", None) or [])
        if special_ids:
            special = torch.isin(ids, torch.as_tensor(special_ids, device=ids.device))
            source = "tokenizer"
        else:
            source = "unknown"
    candidate = valid if special is None else (valid & ~special.bool())
    return inputs, valid, candidate, source


def _logits_of(output: Any) -> torch.Tensor | None:
    logits = getattr(output, "logits", output)
    if isinstance(logits, torch.Tensor) and logits.ndim == 2:
        return logits
    return None


def _run_forward(cap: Capture, model: Any, inputs: Any) -> torch.Tensor | None:
    """One forward pass filling ``cap``; returns logits when the model gave them."""
    output = cap.forward(model.forward, inputs)
    if output is None and not cap.outputs:
        # headless encoders: forward() gives no logits and may not run the module
        module = model.module
        if isinstance(inputs, Mapping):
            cap.forward(module, **inputs)
        else:
            cap.forward(module, inputs)
    return _logits_of(output)


def _check_inputs(
    model: Any,
    dataset: Any,
    layers: Sequence[str] | None,
    sampling: str,
    max_positions: int,
    batch_size: int,
    limit: int | None,
    nonfinite: str,
    layout: str,
) -> tuple[list[str], str]:
    modality = getattr(model.entry, "modality", None)
    data_modality = getattr(dataset, "modality", modality)
    if data_modality != modality:
        raise ValueError(
            f"model {model.entry.name!r} takes {modality} inputs but dataset "
            f"{dataset.name!r} holds {data_modality}"
        )
    check_sampling(sampling, modality, max_positions)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit must be None or an integer >= 1, got {limit!r}")
    if nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"unknown nonfinite policy {nonfinite!r}; valid: {', '.join(NONFINITE_POLICIES)}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    if len(dataset) == 0:
        raise ValueError(f"dataset {dataset.name!r} is empty")
    if layers is None:
        layers = list(getattr(model.entry, "default_layers", None) or [])
        if not layers:
            raise ValueError(f"no layers given and model {model.entry.name!r} has no default layers")
    elif isinstance(layers, str):
        layers = [layers]
    return list(dict.fromkeys(layers)), modality


def extract_activations(
    model: Any,
    dataset: Any,
    layers: Sequence[str] | None = None,
    *,
    sampling: str = "random_position",
    max_positions: int = 16,
    seed: int = 0,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    predictions: bool = True,
    limit: int | None = None,
    progress: Progress | None = None,
    nonfinite: Literal["raise", "drop"] = "raise",
    layout: Literal["nchw", "nhwc"] = "nchw",
) -> dict[str, ActivationSet]:
    """Sampled activation vectors of several layers, from one pass over the dataset.

    Parameters
    ----------
    model : LoadedModel-like
        See the module docstring. Its module is moved to ``device`` and put in eval mode.
    dataset : Dataset-like
        See the module docstring.
    layers : sequence of str, optional
        Dotted module names; default ``model.entry.default_layers``.
    sampling : str
        Image: ``random_position`` (TopoAct), ``gap``, ``max_norm``, ``all_positions``;
        text: ``random_token``, ``cls``, ``mean_tokens``, ``all_tokens``.
        See :mod:`topoact.extract.sampling`.
    max_positions : int
        At most this many vectors per sample for ``all_positions`` / ``all_tokens``.
    seed : int
        Fixes every random choice (a pure function of seed and dataset row), and the
        subset of rows when ``limit`` is set.
    batch_size : int
        Samples per forward pass. Results do not depend on it.
    device : {'cpu', 'cuda'} or torch.device
    predictions : bool
        Run the whole model to record its predicted class and softmax confidence.
        When False the forward pass stops as soon as every layer has fired and
        predictions are ``-1`` / NaN.
    limit : int, optional
        Use a seeded random subset of this many rows (kept in dataset order).
    progress : callable(fraction, message), optional
        Called after every batch (:mod:`topoact.progress`); the message counts the inputs done.
    nonfinite : {'raise', 'drop'}
        What to do with NaN/Inf vectors: raise a ``ValueError`` naming the layer, or
        drop them (counted in ``meta['dropped_nonfinite']``).
    layout : {'nchw', 'nhwc'}
        Layout of 4-D layer outputs.

    Returns
    -------
    dict of str to ActivationSet
        One set per layer, in the order requested.

    Raises
    ------
    ValueError
        Unknown layer / sampling / device, sampling of the wrong modality,
        ``max_positions < 1``, empty dataset, a layer that never ran, NaN/Inf activations.
    """
    layers, modality = _check_inputs(
        model, dataset, layers, sampling, max_positions, batch_size, limit, nonfinite, layout
    )
    rows = subset_rows(len(dataset), limit, seed)
    started = time.perf_counter()
    columns, specials_source = _run_batches(
        model, dataset, layers, modality, rows, sampling=sampling, max_positions=max_positions,
        seed=seed, batch_size=batch_size, device=device, predictions=predictions,
        nonfinite=nonfinite, layout=layout, progress=progress,
    )
    meta_common = run_meta(
        model, dataset, modality, sampling=sampling, max_positions=max_positions, seed=seed,
        limit=limit, n_samples=int(rows.size), predictions=predictions, layout=layout,
        seconds=time.perf_counter() - started, special_tokens=specials_source,
    )
    return {layer: _finish(layer, columns[layer], meta_common) for layer in layers}


def extract_rows(
    model: Any,
    dataset: Any,
    layers: Sequence[str],
    rows: np.ndarray,
    *,
    sampling: str,
    max_positions: int = 16,
    seed: int = 0,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    predictions: bool = True,
    nonfinite: Literal["raise", "drop"] = "raise",
    layout: Literal["nchw", "nhwc"] = "nchw",
) -> tuple[dict[str, ActivationSet], str]:
    """Activation vectors of the dataset ``rows``: one block of a larger extraction.

    The rows are cut into forward batches of ``batch_size`` from the first row on, so a
    block made of whole batches of :func:`extract_activations`' row order gives the
    same batches, and the same vectors bit for bit. Distributed engines run one call
    per block (see :mod:`topoact.distributed`).

    Parameters
    ----------
    model, dataset, layers, sampling, max_positions, seed, batch_size, device, predictions, nonfinite, layout
        As for :func:`extract_activations` (``layers`` already checked by it or by
        :func:`check_extraction`).
    rows : ndarray of int64
        Dataset rows, in the order their vectors are wanted.

    Returns
    -------
    sets : dict of str to ActivationSet
        One set per layer; ``meta`` holds ``layer_shape`` and ``dropped_nonfinite``.
    special_tokens : str
        How special tokens were recognised (text), ``"n/a"`` for images.
    """
    modality = getattr(model.entry, "modality", None)
    columns, specials_source = _run_batches(
        model, dataset, list(layers), modality, np.asarray(rows, dtype=np.int64), sampling=sampling,
        max_positions=max_positions, seed=seed, batch_size=batch_size, device=device,
        predictions=predictions, nonfinite=nonfinite, layout=layout, progress=None,
    )
    return {layer: _finish(layer, columns[layer], {"modality": modality}) for layer in layers}, specials_source


def check_extraction(
    model: Any,
    dataset: Any,
    layers: Sequence[str] | None,
    *,
    sampling: str,
    max_positions: int = 16,
    batch_size: int = 64,
    limit: int | None = None,
    nonfinite: str = "raise",
    layout: str = "nchw",
) -> tuple[list[str], str]:
    """Check an extraction's arguments without running it; return ``(layers, modality)``.

    Raises the ``ValueError`` :func:`extract_activations` would raise for bad arguments,
    including unknown layer names.
    """
    layers, modality = _check_inputs(
        model, dataset, layers, sampling, max_positions, batch_size, limit, nonfinite, layout
    )
    resolve_layers(model.module, layers)
    return layers, modality


def run_meta(
    model: Any,
    dataset: Any,
    modality: str,
    *,
    sampling: str,
    max_positions: int,
    seed: int,
    limit: int | None,
    n_samples: int,
    predictions: bool,
    layout: str,
    seconds: float,
    special_tokens: str,
    engine: str = "local",
) -> dict[str, Any]:
    """The ``meta`` every layer of one extraction shares (``layer`` etc. are added per layer)."""
    meta: dict[str, Any] = {
        "model": model.entry.name,
        "weights_id": getattr(model, "weights_id", None),
        "dataset": dataset.name,
        "content_hash": getattr(dataset, "content_hash", None),
        "modality": modality,
        "sampling": sampling,
        "max_positions": int(max_positions),
        "seed": int(seed),
        "limit": None if limit is None else int(limit),
        "n_samples": int(n_samples),
        "predictions": bool(predictions),
        "labels_are_head_classes": labels_are_head_classes(model, dataset) if predictions else None,
        "layout": layout,
        "topoact_version": __version__,
        "seconds": round(seconds, 3),
        "engine": engine,
    }
    if modality == "text":
        meta["special_tokens"] = special_tokens
    return meta


def labels_are_head_classes(model: Any, dataset: Any) -> bool | None:
    """Whether the dataset's labels index the model's output classes.

    True when the dataset has as many classes as the model's head (digits on a digits
    model, imagenet-val on an ImageNet model) or names none (the caller's own labels);
    False for a dataset with classes of its own (skimage photos on an ImageNet model);
    None when the model does not say how many classes it has.
    """
    class_names = getattr(dataset, "class_names", None)
    n_classes = getattr(model.entry, "num_classes", None)
    if not class_names:
        return True
    return None if n_classes is None else len(class_names) == int(n_classes)


def layer_meta(meta_common: dict[str, Any], layer: str, layer_shape: Sequence[int], dropped: int) -> dict[str, Any]:
    """``meta`` of one layer's set: the run's plus the layer, its output shape and dropped rows."""
    meta = dict(meta_common)
    meta["layer"] = layer
    shape = [int(s) for s in layer_shape]
    if meta.get("modality") == "text" and len(shape) == 2:
        shape[0] = -1  # the token axis varies with each batch's padding
    meta["layer_shape"] = shape
    meta["dropped_nonfinite"] = int(dropped)
    return meta


def _run_batches(
    model: Any,
    dataset: Any,
    layers: list[str],
    modality: str,
    rows: np.ndarray,
    *,
    sampling: str,
    max_positions: int,
    seed: int,
    batch_size: int,
    device: str | torch.device,
    predictions: bool,
    nonfinite: str,
    layout: str,
    progress: Progress | None,
) -> tuple[dict[str, _Columns], str]:
    """Forward ``rows`` in batches of ``batch_size`` and collect each layer's sampled vectors."""
    dev = resolve_device(device)
    labels = getattr(dataset, "labels", None)
    labels_all = (
        np.full(len(dataset), -1, np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    )
    module = model.module
    module.to(dev)
    module.eval()
    tokenizer = getattr(model, "tokenizer", None)

    batch = _Batch()

    def reducer(_layer: str, tensor: torch.Tensor) -> Sampled:
        return sample(
            tensor,
            sampling,
            sample_ids=batch.sample_ids,
            seed=seed,
            max_positions=max_positions,
            layout=layout,
            valid=batch.valid,
            candidate=batch.candidate,
        )

    columns = {layer: _Columns() for layer in layers}
    # Labels index the model's classes only when the dataset has as many classes as the
    # head (digits on a digits model, imagenet-val on an ImageNet model); a dataset with
    # class names of its own (skimage photos on an ImageNet model) gets no label probability.
    class_names = getattr(dataset, "class_names", None)
    n_label_classes = len(class_names) if class_names else None
    specials_source = "n/a"
    total = int(rows.size)
    with torch.inference_mode(), capture(module, layers, reduce=reducer, stop_after=not predictions) as cap:
        for start in range(0, total, batch_size):
            ids = rows[start : start + batch_size]
            inputs = _to_device(model.prepare(dataset.items(ids)), dev)
            if modality == "text":
                inputs, batch.valid, batch.candidate, specials_source = _token_masks(inputs, tokenizer)
            batch.sample_ids = ids
            logits = _run_forward(cap, model, inputs)
            if cap.missing:
                raise ValueError(
                    f"layer(s) {', '.join(cap.missing)} did not run in the forward pass of "
                    f"{model.entry.name!r}"
                )
            pred, conf, label_prob = _predictions(logits, labels_all[ids], n_label_classes)
            for layer in layers:
                _collect(columns[layer], layer, cap.outputs[layer], ids, labels_all[ids],
                         (pred, conf, label_prob), nonfinite)
            if progress is not None:
                progress(*extraction_progress(layers, min(start + batch_size, total), total))
    return columns, specials_source


def extraction_progress(layers: Sequence[str], done: int, total: int) -> tuple[float, str]:
    """The ``(fraction, message)`` an extraction reports after ``done`` of ``total`` inputs (local and Ray)."""
    return done / max(total, 1), f"extracting {', '.join(layers)} activations: {done:,} / {total:,} inputs"


def _predictions(
    logits: torch.Tensor | None, labels: np.ndarray, n_label_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted class, its softmax probability, and the probability of each given label.

    The label probability is NaN throughout when the dataset's classes are not the
    head's (``n_label_classes`` differs from the number of logits).
    """
    n = labels.shape[0]
    if logits is None:
        return np.full(n, -1, np.int64), np.full(n, np.nan, np.float32), np.full(n, np.nan, np.float32)
    probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
    pred = probs.argmax(axis=1)
    # a label outside the head's classes (or -1, unlabelled) has no probability
    known = (labels >= 0) & (labels < probs.shape[1]) & (n_label_classes in (None, probs.shape[1]))
    label_prob = np.full(n, np.nan, np.float32)
    label_prob[known] = probs[np.flatnonzero(known), labels[known]]
    return pred.astype(np.int64), probs[np.arange(n), pred].astype(np.float32), label_prob


def _collect(
    col: _Columns,
    layer: str,
    sampled: Sampled,
    ids: np.ndarray,
    labels: np.ndarray,
    head: tuple[np.ndarray, np.ndarray, np.ndarray],
    nonfinite: str,
) -> None:
    pred, conf, label_prob = head
    vectors = sampled.vectors.cpu().numpy()
    rows = sampled.rows
    positions = sampled.positions
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        bad = np.unique(ids[rows[~finite]])
        if nonfinite == "raise":
            raise ValueError(
                f"layer {layer!r} produced NaN/Inf activations for {bad.size} sample(s) "
                f"(first: dataset row {int(bad[0])}); pass nonfinite='drop' to skip them"
            )
        col.dropped += int((~finite).sum())
        vectors, rows, positions = vectors[finite], rows[finite], positions[finite]
    col.vectors.append(vectors)
    col.sample_index.append(ids[rows])
    col.position.append(positions)
    col.label.append(labels[rows])
    col.prediction.append(pred[rows])
    col.confidence.append(conf[rows])
    col.label_probability.append(label_prob[rows])
    col.layer_shape = sampled.layer_shape


def _finish(layer: str, col: _Columns, meta_common: dict[str, Any]) -> ActivationSet:
    def cat(chunks: list[np.ndarray], dtype: Any, width: int | None = None) -> np.ndarray:
        if chunks:
            return np.concatenate(chunks).astype(dtype, copy=False)
        return np.zeros((0, width) if width is not None else 0, dtype=dtype)

    width = col.vectors[0].shape[1] if col.vectors else 0
    meta = layer_meta(meta_common, layer, col.layer_shape, col.dropped)
    return ActivationSet(
        layer=layer,
        vectors=cat(col.vectors, np.float32, width),
        sample_index=cat(col.sample_index, np.int64),
        position=cat(col.position, np.int32),
        label=cat(col.label, np.int64),
        prediction=cat(col.prediction, np.int64),
        confidence=cat(col.confidence, np.float32),
        label_probability=cat(col.label_probability, np.float32),
        meta=meta,
    )

"""Extraction through the cache: stored layers come back, missing ones are extracted in one pass.

The cache key of a layer is a content hash of everything that determines its vectors:
model name and weights id, dataset name and content hash, layer, sampling,
max_positions (for the samplers that use it), seed, limit, layout, the non-finite policy
and whether predictions were recorded. Batch size and device do not change the result
and are not part of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from topoact.activations import ActivationSet
from topoact.extract.extractor import Progress, extract_activations

_USES_MAX_POSITIONS = ("all_positions", "all_tokens")


class ActivationStore(Protocol):
    """The part of :class:`topoact.cache.Store` this module uses.

    The Ray engine also uses ``shard_dir``, ``put_parquet_activations`` and reads back
    through ``get_activations``.
    """

    def get_activations(self, key: str) -> ActivationSet | None: ...

    def put_activations(self, key: str, acts: ActivationSet) -> None: ...


def activation_key(
    model: Any,
    dataset: Any,
    layer: str,
    *,
    sampling: str,
    max_positions: int,
    seed: int,
    limit: int | None,
    predictions: bool,
    nonfinite: str = "raise",
    layout: str = "nchw",
) -> str:
    """Cache key of one layer's activation set.

    Parameters
    ----------
    model : LoadedModel-like
        Gives ``entry.name`` and ``weights_id``.
    dataset : Dataset-like
        Gives ``name`` and ``content_hash``.
    layer : str
    sampling, max_positions, seed, limit, predictions, nonfinite, layout
        As for :func:`~topoact.extract.extract_activations`.

    Returns
    -------
    str
    """
    from topoact.cache import cache_key

    return cache_key(
        kind="activations",
        model=str(model.entry.name),
        weights_id=str(model.weights_id),
        dataset=str(dataset.name),
        content_hash=str(dataset.content_hash),
        layer=str(layer),
        sampling=str(sampling),
        max_positions=int(max_positions) if sampling in _USES_MAX_POSITIONS else None,
        seed=int(seed),
        limit=None if limit is None else int(limit),
        predictions=bool(predictions),
        nonfinite=str(nonfinite),
        layout=str(layout),
    )


def get_or_extract(
    model: Any,
    dataset: Any,
    layers: Sequence[str] | None = None,
    *,
    store: ActivationStore | None,
    sampling: str = "random_position",
    max_positions: int = 16,
    seed: int = 0,
    limit: int | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    predictions: bool = True,
    nonfinite: Literal["raise", "drop"] = "raise",
    layout: Literal["nchw", "nhwc"] = "nchw",
    weights: str = "pretrained",
    checkpoint: str | None = None,
    dataset_path: str | None = None,
    progress: Progress | None = None,
    engine: Any = "local",
) -> dict[str, ActivationSet]:
    """Activation sets of ``layers``: from the cache where stored, else extracted and stored.

    Parameters
    ----------
    model : str or LoadedModel-like
        A zoo model name (loaded with ``zoo.load_model(model, weights=..., checkpoint=...,
        device=...)``) or an already loaded model.
    dataset : str or Dataset-like
        A zoo dataset name (``zoo.load_dataset(dataset, path=dataset_path)``, all of it;
        ``limit`` then picks the rows so that ``sample_index`` always indexes the full
        dataset) or a loaded dataset.
    layers : sequence of str, optional
        Default: the model entry's default layers.
    store : Store-like or None
        ``get_activations(key)`` / ``put_activations(key, acts)``; None disables caching.
    sampling, max_positions, seed, limit, batch_size, device, predictions, nonfinite, layout, progress
        As for :func:`~topoact.extract.extract_activations`. A set stored with
        predictions also answers a request without them.
    weights : {'pretrained', 'untrained'}
        Only used when ``model`` is a name.
    checkpoint : str, optional
        Only used when ``model`` is a name.
    dataset_path : str, optional
        Only used when ``dataset`` is a name that needs a folder or file.
    engine : {'local', 'ray'} or RayEngine, default='local'
        Where missing layers are extracted: here, or on a Ray cluster
        (:class:`topoact.distributed.RayEngine`: address, shard folder, actors), whose
        Parquet shards the store registers and reads in place. Same vectors, same keys.
        With the Ray engine ``device`` may also be ``'auto'`` (GPU actors when the
        cluster has GPUs); a model given by name is loaded here on the CPU.

    Returns
    -------
    dict of str to ActivationSet
        One set per layer, in the order requested; ``meta['cached']`` says whether it came
        from the store, ``meta['key']`` is its cache key (neither is stored).
    """
    from topoact.distributed.engine import resolve_engine

    ray_engine = resolve_engine(engine)
    load_device = device if ray_engine is None else "cpu"  # the actors place their own copies
    loaded = _load_model(model, weights, checkpoint, load_device) if isinstance(model, str) else model
    data = _load_dataset(dataset, dataset_path) if isinstance(dataset, str) else dataset
    if layers is None:
        layers = list(getattr(loaded.entry, "default_layers", None) or [])
    elif isinstance(layers, str):
        layers = [layers]
    layers = list(dict.fromkeys(layers))
    common = dict(sampling=sampling, max_positions=max_positions, seed=seed, limit=limit,
                  nonfinite=nonfinite, layout=layout)

    found: dict[str, ActivationSet] = {}
    keys: dict[str, str] = {}
    if store is not None and layers:
        for layer in layers:
            keys[layer] = activation_key(loaded, data, layer, predictions=predictions, **common)
            hit_key = keys[layer]
            hit = store.get_activations(hit_key)
            if hit is None and not predictions:
                hit_key = activation_key(loaded, data, layer, predictions=True, **common)
                hit = store.get_activations(hit_key)
            if hit is not None:
                hit.meta = {**hit.meta, "cached": True, "key": hit_key}
                found[layer] = hit

    missing = [layer for layer in layers if layer not in found]
    if ray_engine is not None and (missing or not layers):
        from topoact.distributed.extract import extract_with_ray

        fresh = extract_with_ray(
            loaded, data, missing or None, engine=ray_engine, store=store,
            key_of=lambda layer: keys.get(layer) or activation_key(loaded, data, layer, predictions=predictions, **common),
            batch_size=batch_size, device=device, predictions=predictions, progress=progress, **common,
        )
        for layer, acts in fresh.items():
            acts.meta = {**acts.meta, "cached": False, "key": keys.get(layer) or activation_key(
                loaded, data, layer, predictions=predictions, **common)}
            found[layer] = acts
        if not layers:
            layers = list(fresh)
    elif missing or not layers:
        fresh = extract_activations(
            loaded, data, missing or None, batch_size=batch_size, device=device,
            predictions=predictions, progress=progress, **common,
        )
        for layer, acts in fresh.items():
            key = keys.get(layer) or activation_key(loaded, data, layer, predictions=predictions, **common)
            if store is not None:
                store.put_activations(key, acts)
            acts.meta = {**acts.meta, "cached": False, "key": key}
            found[layer] = acts
        if not layers:
            layers = list(fresh)
    return {layer: found[layer] for layer in layers}


def _load_model(name: str, weights: str, checkpoint: str | None, device: str) -> Any:
    import zoo

    return zoo.load_model(name, weights=weights, checkpoint=checkpoint, device=device)


def _load_dataset(name: str, path: str | None) -> Any:
    import zoo

    if path is None:
        return zoo.load_dataset(name)
    return zoo.load_dataset(name, path=path)

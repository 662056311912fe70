"""Activations from the cache or extracted: stored layers come back, missing ones are extracted in one pass."""

from __future__ import annotations

from typing import Any, Protocol

from topoact.activations import ActivationSet
from topoact.progress import Progress
from topoact.workflow.spec import ExtractionSpec

__all__ = ["ActivationStore", "get_or_extract"]


class ActivationStore(Protocol):
    """The part of :class:`topoact.cache.Store` :func:`get_or_extract` uses.

    The Ray engine also uses ``shard_dir``, ``put_parquet_activations`` and reads back
    through ``get_activations``.
    """

    def get_activations(self, key: str) -> ActivationSet | None: ...

    def put_activations(self, key: str, acts: ActivationSet) -> None: ...


def get_or_extract(
    spec: ExtractionSpec,
    *,
    store: ActivationStore | None,
    progress: Progress | None = None,
    engine: Any = "local",
) -> dict[str, ActivationSet]:
    """Activation sets of ``spec.layers``: from the cache where stored, else extracted and stored.

    Parameters
    ----------
    spec : ExtractionSpec
        Model, dataset, layers and sampling. A set stored with predictions also answers
        a request without them.
    store : Store-like or None
        ``get_activations(key)`` / ``put_activations(key, acts)``; None disables caching.
    progress : callable(fraction, message), optional
        Follows the extraction of missing layers (:mod:`topoact.progress`).
    engine : {'local', 'ray'} or RayEngine, default='local'
        Where missing layers are extracted: here, or on a Ray cluster
        (:class:`topoact.distributed.RayEngine`: address, shard folder, actors), whose
        Parquet shards the store registers and reads in place. Same vectors, same keys.
        With the Ray engine ``spec.device`` may also be ``'auto'`` (GPU actors when the
        cluster has GPUs); a model given by name is loaded here on the CPU.

    Returns
    -------
    dict of str to ActivationSet
        One set per layer, in the order requested; ``meta['cached']`` says whether it came
        from the store, ``meta['key']`` is its cache key (neither is stored).
    """
    from topoact.distributed.engine import resolve_engine

    if not isinstance(spec, ExtractionSpec):
        raise TypeError(f"get_or_extract takes an ExtractionSpec, got {type(spec).__name__}")
    ray_engine = resolve_engine(engine)
    spec = spec.loaded(device=spec.device if ray_engine is None else "cpu")  # Ray actors place their own copies
    model, data = spec.model, spec.dataset
    layers = spec.resolved_layers()
    common = {name: value for name, value in spec.key_params().items() if name != "predictions"}

    def key_of(layer: str) -> str:
        return spec.cache_key(layer)

    found: dict[str, ActivationSet] = {}
    if store is not None:
        for layer in layers:
            hit_key = key_of(layer)
            hit = store.get_activations(hit_key)
            if hit is None and not spec.predictions:
                hit_key = spec.cache_key(layer, predictions=True)
                hit = store.get_activations(hit_key)
            if hit is not None:
                hit.meta = {**hit.meta, "cached": True, "key": hit_key}
                found[layer] = hit

    missing = [layer for layer in layers if layer not in found]
    if not missing and layers:
        return {layer: found[layer] for layer in layers}
    steps = progress  # the extraction reports (fraction, message) itself
    if ray_engine is not None:
        from topoact.distributed.extract import extract_with_ray

        fresh = extract_with_ray(
            model, data, missing or None, engine=ray_engine, store=store, key_of=key_of,
            batch_size=spec.batch_size, device=spec.device, predictions=spec.predictions, progress=steps, **common,
        )
    else:
        from topoact.extract.extractor import extract_activations

        fresh = extract_activations(
            model, data, missing or None, batch_size=spec.batch_size, device=spec.device,
            predictions=spec.predictions, progress=steps, **common,
        )
        if store is not None:
            for layer, acts in fresh.items():
                store.put_activations(key_of(layer), acts)
    for layer, acts in fresh.items():
        acts.meta = {**acts.meta, "cached": False, "key": key_of(layer)}
        found[layer] = acts
    return {layer: found[layer] for layer in layers or list(fresh)}

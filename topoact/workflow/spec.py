"""What names one extraction: :class:`ExtractionSpec` and the cache key of a layer's activation set.

The cache key of a layer is a content hash of everything that determines its vectors:
model name and weights id, dataset name and content hash, layer, sampling,
max_positions (for the samplers that use it), seed, limit, layout, the non-finite policy
and whether predictions were recorded. Batch size and device do not change the result
and are not part of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from topoact.extract.names import NONFINITE_POLICIES, SAMPLINGS

__all__ = ["ExtractionSpec", "activation_key"]

_USES_MAX_POSITIONS = ("all_positions", "all_tokens")
_LAYOUTS = ("nchw", "nhwc")
_WEIGHTS = ("pretrained", "untrained")


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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ExtractionSpec:
    """Which activations to get: model, dataset, layers and how inputs are sampled.

    A value (frozen, comparable) that every surface builds the same way: the command
    line from its flags, the dashboard from its widgets, compare and robustness per run.
    :func:`topoact.workflow.get_or_extract` reads it from the cache or extracts it.

    Parameters
    ----------
    model : str or LoadedModel-like
        A zoo model name (loaded with ``zoo.load_model(model, weights=..., checkpoint=...)``)
        or an already loaded model.
    dataset : str or Dataset-like
        A zoo dataset name (``zoo.load_dataset(dataset, path=dataset_path)``, all of it;
        ``limit`` then picks the rows so that ``sample_index`` always indexes the full
        dataset) or a loaded dataset.
    layers : str or sequence of str, optional
        Dotted module names; default the model entry's default layers. Duplicates are
        dropped, the order is kept.
    limit : int, optional
        At most this many inputs (a seeded random subset); None: all of them.
    sampling : str, optional
        One of :data:`topoact.extract.SAMPLINGS`; default ``random_token`` for a text
        model, else ``random_position``.
    max_positions, seed, predictions, nonfinite, layout
        As for :func:`~topoact.extract.extract_activations`.
    weights : {'pretrained', 'untrained'}
        Only used when ``model`` is a name.
    checkpoint : str, optional
        Only used when ``model`` is a name.
    dataset_path : str, optional
        Only used when ``dataset`` is a name that needs a folder or file.
    batch_size : int, default 64
        Inputs per forward pass (not part of the cache key).
    device : str, default 'cpu'
        Where the model runs (not part of the cache key).

    Raises
    ------
    ValueError
        A parameter out of range or of the wrong type (the message names it).
    """

    model: Any
    dataset: Any
    layers: tuple[str, ...] | None = None
    limit: int | None = None
    sampling: str | None = None
    max_positions: int = 16
    seed: int = 0
    predictions: bool = True
    nonfinite: str = "raise"
    layout: str = "nchw"
    weights: str = "pretrained"
    checkpoint: str | None = None
    dataset_path: str | None = None
    batch_size: int = 64
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("model", "dataset"):
            value = getattr(self, name)
            if value is None or (isinstance(value, str) and not value):
                raise ValueError(f"ExtractionSpec.{name} must be a zoo name or a loaded {name}, got {value!r}")
        layers = self.layers
        if layers is not None:
            if isinstance(layers, str):
                layers = (layers,)
            if not isinstance(layers, Sequence) or not all(isinstance(x, str) and x for x in layers):
                raise ValueError(f"ExtractionSpec.layers must be layer names (non-empty str), got {self.layers!r}")
            object.__setattr__(self, "layers", tuple(dict.fromkeys(layers)))
        if self.limit is not None and (not _is_int(self.limit) or self.limit < 1):
            raise ValueError(f"ExtractionSpec.limit must be a positive int or None, got {self.limit!r}")
        if self.sampling is not None and self.sampling not in SAMPLINGS:
            raise ValueError(f"ExtractionSpec.sampling must be one of {', '.join(SAMPLINGS)}, got {self.sampling!r}")
        for name, low in (("max_positions", 1), ("seed", 0), ("batch_size", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(f"ExtractionSpec.{name} must be an int >= {low}, got {value!r}")
        if not isinstance(self.predictions, bool):
            raise ValueError(f"ExtractionSpec.predictions must be a bool, got {self.predictions!r}")
        for name, allowed in (("nonfinite", NONFINITE_POLICIES), ("layout", _LAYOUTS), ("weights", _WEIGHTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"ExtractionSpec.{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")

    # ------------------------------------------------------------------ derived
    @property
    def model_name(self) -> str:
        """The zoo name of the model (``entry.name`` of a loaded one)."""
        return self.model if isinstance(self.model, str) else str(self.model.entry.name)

    @property
    def dataset_name(self) -> str:
        """The name of the dataset."""
        return self.dataset if isinstance(self.dataset, str) else str(self.dataset.name)

    @property
    def layer(self) -> str:
        """The one layer of a single-layer spec (what a dashboard view or a graph is about).

        Raises
        ------
        ValueError
            When the spec names no layer or several.
        """
        if self.layers is None or len(self.layers) != 1:
            raise ValueError(f"this ExtractionSpec names {self.layers!r}, not one layer")
        return self.layers[0]

    def replace(self, **changes: Any) -> ExtractionSpec:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)

    def loaded(self, device: str | None = None) -> ExtractionSpec:
        """This spec with model and dataset loaded from the zoo where they are names.

        Parameters
        ----------
        device : str, optional
            Where to load a model given by name; default :attr:`device`.
        """
        model, dataset = self.model, self.dataset
        if isinstance(model, str):
            import zoo

            model = zoo.load_model(model, weights=self.weights, checkpoint=self.checkpoint,
                                   device=self.device if device is None else device)
        if isinstance(dataset, str):
            import zoo

            dataset = zoo.load_dataset(dataset) if self.dataset_path is None else zoo.load_dataset(
                dataset, path=self.dataset_path)
        if model is self.model and dataset is self.dataset:
            return self
        return self.replace(model=model, dataset=dataset)

    def resolved_layers(self) -> list[str]:
        """The layers asked for, or the (loaded) model entry's default layers."""
        if self.layers is not None:
            return list(self.layers)
        return list(getattr(self.loaded().model.entry, "default_layers", None) or [])

    def resolved_sampling(self) -> str:
        """:attr:`sampling`, or the default for the model's modality."""
        if self.sampling is not None:
            return self.sampling
        return "random_token" if getattr(self.loaded().model.entry, "modality", None) == "text" else "random_position"

    def key_params(self, *, predictions: bool | None = None) -> dict[str, Any]:
        """The parameters of :func:`activation_key` this spec sets (all but model, dataset, layer)."""
        return dict(sampling=self.resolved_sampling(), max_positions=self.max_positions, seed=self.seed,
                    limit=self.limit, nonfinite=self.nonfinite, layout=self.layout,
                    predictions=self.predictions if predictions is None else predictions)

    def cache_key(self, layer: str, *, predictions: bool | None = None) -> str:
        """The cache key of ``layer``'s activation set (loads model and dataset given by name).

        Parameters
        ----------
        layer : str
        predictions : bool, optional
            Override :attr:`predictions` (a set stored with predictions also answers a
            request without them).
        """
        spec = self.loaded()
        return activation_key(spec.model, spec.dataset, layer, **self.key_params(predictions=predictions))

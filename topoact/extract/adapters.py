"""Bring your own model and data: minimal objects with the zoo's interface.

:func:`~topoact.extract.extract_activations` takes anything shaped like the zoo's
``LoadedModel`` and ``Dataset``. These two small classes wrap a plain ``nn.Module`` and
in-memory items so that models and data outside the zoo can be explored too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Entry:
    """Description of a model: the fields extraction reads from a zoo entry."""

    name: str
    modality: str = "image"
    default_layers: tuple[str, ...] = ()
    num_classes: int | None = None


def images_to_tensor(items: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack H x W x C uint8 images into an (N, C, H, W) float tensor in [0, 1]."""
    arr = np.stack([np.asarray(item) for item in items])
    if arr.ndim == 3:  # grey images without a channel axis
        arr = arr[..., None]
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)


@dataclass
class ModuleModel:
    """A plain ``nn.Module`` dressed as a zoo ``LoadedModel``.

    Parameters
    ----------
    module : nn.Module
    entry : Entry
    prepare_fn : callable, optional
        ``prepare_fn(items) -> Tensor | dict[str, Tensor]``; default
        :func:`images_to_tensor` for images (text models need one: a tokenizer call).
    head : bool
        Whether the module's output is class logits (otherwise ``forward`` still runs
        the module but returns None).
    weights_id : str
        Identifies the weights (part of cache keys).
    class_names : list of str, optional
    tokenizer : optional
        Text models: a tokenizer whose ``all_special_ids`` mark special tokens.
    """

    module: nn.Module
    entry: Entry
    prepare_fn: Callable[[Sequence[Any]], Any] | None = None
    head: bool = True
    weights_id: str = "custom"
    class_names: list[str] | None = None
    tokenizer: Any = None

    def layers(self) -> list[str]:
        """Dotted names of every submodule."""
        return [name for name, _ in self.module.named_modules() if name]

    def prepare(self, items: Sequence[Any]) -> Any:
        """Turn raw items into model inputs."""
        if self.prepare_fn is not None:
            return self.prepare_fn(items)
        if self.entry.modality == "image":
            return images_to_tensor(items)
        raise ValueError("text models need a prepare function (a tokenizer call)")

    def forward(self, inputs: Any) -> torch.Tensor | None:
        """Run the module; logits when it has a head, else None."""
        out = self.module(**inputs) if isinstance(inputs, dict) else self.module(inputs)
        if not self.head:
            return None
        return getattr(out, "logits", out)


@dataclass
class ItemsDataset:
    """In-memory items (images as H x W x C uint8 arrays, or strings) with labels.

    Parameters
    ----------
    name : str
    data : sequence
        The items.
    labels : array-like of int, optional
        ``-1`` for unlabelled; default all ``-1``.
    modality : {'image', 'text'}
    ids : list of str, optional
        Default ``"0", "1", ...``.
    """

    name: str
    data: Sequence[Any]
    labels: np.ndarray | None = None
    modality: str = "image"
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.data)
        self.labels = (
            np.full(n, -1, np.int64) if self.labels is None else np.asarray(self.labels, dtype=np.int64)
        )
        if self.labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {self.labels.shape}")
        if not self.ids:
            self.ids = [str(i) for i in range(n)]

    def __len__(self) -> int:
        return len(self.data)

    def items(self, indices: Sequence[int] | np.ndarray) -> list[Any]:
        """Items at the given rows."""
        return [self.data[int(i)] for i in indices]

    @property
    def content_hash(self) -> str:
        """SHA-256 of the items and labels (identifies the data in cache keys)."""
        h = hashlib.sha256()
        for item in self.data:
            if isinstance(item, str):
                h.update(b"s" + item.encode("utf-8"))
            else:
                arr = np.ascontiguousarray(item)
                h.update(f"a{arr.dtype}{arr.shape}".encode())
                h.update(arr.tobytes())
        h.update(np.asarray(self.labels, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]

"""Forward hooks by dotted module name, scoped by a context manager.

In the style of baukit's ``TraceDict`` / TransformerLens' hook points::

    with capture(model, ["layer1", "layer3.0.conv2"], reduce=fn, stop_after=True) as cap:
        model(x)            # stops as soon as both layers have run
    cap.outputs["layer1"]   # fn("layer1", output of layer1)

The hooks are removed when the block ends, also when the forward pass raises.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

Reduce = Callable[[str, torch.Tensor], Any]


class _StopForward(Exception):
    """Raised by a hook to end the forward pass once every requested layer has fired."""

    def __init__(self, owner: "Capture") -> None:
        super().__init__("all requested layers have fired")
        self.owner = owner


def first_tensor(output: Any) -> torch.Tensor:
    """The tensor a layer output stands for.

    Tuples and lists (HF transformer blocks return ``(hidden_states, ...)``) give their
    first tensor; mappings and HF ``ModelOutput`` their first tensor value.
    """
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        values: Iterable[Any] = output.values()
    elif isinstance(output, (tuple, list)):
        values = output
    else:
        raise TypeError(f"layer output of type {type(output).__name__} holds no tensor")
    for value in values:
        if isinstance(value, torch.Tensor):
            return value
    raise TypeError(f"layer output of type {type(output).__name__} holds no tensor")


def resolve_layers(module: nn.Module, layers: Iterable[str]) -> dict[str, nn.Module]:
    """Look up submodules by dotted name, in order, without duplicates.

    Raises
    ------
    ValueError
        For an empty list or an unknown name; the message lists close valid names.
    """
    names = [layers] if isinstance(layers, str) else list(dict.fromkeys(layers))
    if not names:
        raise ValueError("no layers requested")
    found: dict[str, nn.Module] = {}
    valid: list[str] | None = None
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"layer names must be non-empty strings, got {name!r}")
        try:
            found[name] = module.get_submodule(name)
        except AttributeError:
            if valid is None:
                valid = [n for n, _ in module.named_modules() if n]
            raise ValueError(_unknown_layer_message(name, valid, type(module).__name__)) from None
    return found


def _unknown_layer_message(name: str, valid: list[str], owner: str) -> str:
    close = difflib.get_close_matches(name, valid, n=8, cutoff=0.6)
    if close:
        hint = f"close matches: {', '.join(close)}"
    else:
        shown = ", ".join(valid[:12])
        more = f", ... ({len(valid)} in all)" if len(valid) > 12 else ""
        hint = f"valid layers: {shown}{more}"
    return f"unknown layer {name!r} of {owner}; {hint}"


@dataclass
class Capture:
    """What a :func:`capture` block collected.

    Attributes
    ----------
    layers : tuple of str
        Requested layers, in order.
    outputs : dict
        ``layer -> reduce(layer, output)`` of the latest forward pass (the first call
        of the module in that pass when a module runs several times).
    calls : dict
        ``layer -> number of times the module ran`` in the latest forward pass
        (counting stops when the pass is stopped early).
    """

    layers: tuple[str, ...]
    outputs: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether every requested layer fired in the latest forward pass."""
        return len(self.outputs) == len(self.layers)

    @property
    def missing(self) -> list[str]:
        """Requested layers that did not fire in the latest forward pass."""
        return [name for name in self.layers if name not in self.outputs]

    def reset(self) -> None:
        """Forget the outputs of the previous forward pass."""
        self.outputs.clear()
        self.calls.clear()

    def forward(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` as a fresh pass; None when it was stopped early."""
        self.reset()
        try:
            return fn(*args, **kwargs)
        except _StopForward as stop:
            if stop.owner is not self:
                raise
            return None


@contextmanager
def capture(
    module: nn.Module,
    layers: Iterable[str],
    reduce: Reduce | None = None,
    stop_after: bool = False,
) -> Iterator[Capture]:
    """Hook ``layers`` of ``module`` for the duration of a ``with`` block.

    Parameters
    ----------
    module : nn.Module
        The model.
    layers : iterable of str
        Dotted submodule names (``module.get_submodule``).
    reduce : callable, optional
        ``reduce(layer, tensor) -> value`` applied inside the hook, so only the reduced
        value is kept (memory batch x width instead of the whole layer). Default: the
        detached tensor. Tuple outputs are replaced by their first tensor first.
    stop_after : bool
        End the forward pass as soon as every layer has fired. The stop is absorbed by
        :meth:`Capture.forward` or, for a bare call inside the block, by the block itself
        (the rest of the block is then skipped).

    Yields
    ------
    Capture

    Raises
    ------
    ValueError
        For an unknown layer name (the message lists close valid names).
    """
    targets = resolve_layers(module, layers)
    cap = Capture(layers=tuple(targets))
    n_layers = len(targets)

    def make_hook(name: str) -> Callable[..., None]:
        def hook(_mod: nn.Module, _inputs: Any, output: Any) -> None:
            cap.calls[name] = cap.calls.get(name, 0) + 1
            if name in cap.outputs:
                return
            tensor = first_tensor(output)
            cap.outputs[name] = reduce(name, tensor) if reduce is not None else tensor.detach()
            if stop_after and len(cap.outputs) == n_layers:
                raise _StopForward(cap)

        return hook

    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        for name, sub in targets.items():
            handles.append(sub.register_forward_hook(make_hook(name)))
        try:
            yield cap
        except _StopForward as stop:
            if stop.owner is not cap:
                raise
    finally:
        for handle in handles:
            handle.remove()

"""Activation extraction: hooks by dotted module name, sampling inside the hook, batching.

Through the cache (stored sets back, missing layers extracted):
:func:`topoact.workflow.get_or_extract`.

Public API
----------
extract_activations
    Sampled activation vectors of several layers from one pass over a dataset.
capture
    Context manager hooking layers by dotted name (always removes its hooks).
SAMPLINGS, IMAGE_SAMPLINGS, TEXT_SAMPLINGS
    Names of the samplers.
ModuleModel, ItemsDataset, Entry
    Wrap your own ``nn.Module`` and in-memory data.
"""

import importlib

from topoact.extract.names import IMAGE_SAMPLINGS, SAMPLINGS, TEXT_SAMPLINGS

# Everything else imports torch: loaded on first use, so that ``topoact.cli.extract``
# (and the command lines that share its arguments) start without it.
_LAZY = {
    "Entry": "adapters", "ItemsDataset": "adapters", "ModuleModel": "adapters",
    "extract_activations": "extractor", "Capture": "hooks", "capture": "hooks",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"topoact.extract.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'topoact.extract' has no attribute {name!r}")


__all__ = [
    "Capture",
    "Entry",
    "IMAGE_SAMPLINGS",
    "ItemsDataset",
    "ModuleModel",
    "SAMPLINGS",
    "TEXT_SAMPLINGS",
    "capture",
    "extract_activations",
]

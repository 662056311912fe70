"""Activation extraction: hooks by dotted module name, sampling inside the hook, batching.

Public API
----------
extract_activations
    Sampled activation vectors of several layers from one pass over a dataset.
get_or_extract
    The same, through the cache: returns stored sets, extracts only missing layers.
capture
    Context manager hooking layers by dotted name (always removes its hooks).
SAMPLINGS, IMAGE_SAMPLINGS, TEXT_SAMPLINGS
    Names of the samplers.
ModuleModel, ItemsDataset, Entry
    Wrap your own ``nn.Module`` and in-memory data.
"""

from topoact.extract.adapters import Entry, ItemsDataset, ModuleModel
from topoact.extract.extractor import extract_activations
from topoact.extract.hooks import Capture, capture
from topoact.extract.pipeline import activation_key, get_or_extract
from topoact.extract.sampling import IMAGE_SAMPLINGS, SAMPLINGS, TEXT_SAMPLINGS

__all__ = [
    "Capture",
    "Entry",
    "IMAGE_SAMPLINGS",
    "ItemsDataset",
    "ModuleModel",
    "SAMPLINGS",
    "activation_key",
    "TEXT_SAMPLINGS",
    "capture",
    "extract_activations",
    "get_or_extract",
]

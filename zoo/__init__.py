"""The topoact zoo: a registry of pretrained models and datasets, and their loaders.

Models::

    import zoo
    zoo.list_models("*net*", modality="image", offline=True)
    model = zoo.load_model("mobilenetv2_100")            # or weights="untrained"
    batch = model.prepare(zoo.load_dataset("skimage-photos").items([6]))
    logits = model.forward(batch)

Nothing here imports topoact or streamlit.
"""

from __future__ import annotations

from zoo.errors import ZooError
from zoo.paths import cache_dir
from zoo.registry import ModelEntry, get, list_models, register
from zoo.datasets import Dataset, DatasetEntry, get_dataset, list_datasets, load_dataset, register_dataset
from zoo.models import LoadedModel, load_model
from zoo import entries as _entries  # noqa: F401  (registers the built-in models)
from zoo import image_data as _image_data  # noqa: F401  (registers image datasets)
from zoo import text_data as _text_data  # noqa: F401  (registers text datasets)
from zoo import perturbed as _perturbed  # noqa: F401  (registers the adv:... family of perturbed datasets)

__all__ = [
    "Dataset",
    "DatasetEntry",
    "LoadedModel",
    "ModelEntry",
    "ZooError",
    "cache_dir",
    "get",
    "get_dataset",
    "list_datasets",
    "list_models",
    "load_dataset",
    "load_model",
    "register",
    "register_dataset",
]

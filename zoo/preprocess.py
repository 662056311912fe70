"""Turn dataset items (numpy arrays or PIL images) into normalised model inputs.

The transform itself is timm's :func:`timm.data.create_transform` built from the entry's
input config (resize, centre crop, to tensor, normalise).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from zoo.errors import ZooError


def to_pil(item: Any, channels: int) -> Image.Image:
    """Convert one image item to a PIL image with ``channels`` channels (1 or 3).

    Parameters
    ----------
    item : ndarray or PIL.Image.Image
        ``H x W`` or ``H x W x C`` (C in 1, 3, 4); uint8, bool, or float in [0, 1].
    channels : int
        1 gives mode ``"L"``, 3 gives ``"RGB"``.
    """
    if isinstance(item, Image.Image):
        image = item
    else:
        array = np.asarray(item)
        if array.dtype == bool:
            array = array.astype(np.uint8) * 255
        elif array.dtype != np.uint8:
            if array.size and float(np.nanmax(array)) <= 1.0:
                array = array * 255.0
            array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
            raise ZooError(f"an image item must be HxW or HxWxC with C in 1, 3, 4; got shape {array.shape}")
        image = Image.fromarray(array)
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise ZooError(f"models with {channels} input channels are not supported (1 or 3)")
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA").convert("RGB") if mode == "RGB" else image.convert("L")
    return image.convert(mode)


@functools.lru_cache(maxsize=16)
def _transform_from_json(config_json: str):
    from timm.data import create_transform

    config = json.loads(config_json)
    return create_transform(
        input_size=tuple(config["input_size"]),
        interpolation=config.get("interpolation", "bilinear"),
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
        crop_pct=config.get("crop_pct", 1.0),
        crop_mode=config.get("crop_mode", "center"),
        is_training=False,
    )


def image_transform(input_config: dict[str, Any]):
    """Return timm's evaluation transform for ``input_config`` (cached)."""
    keys = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")
    return _transform_from_json(json.dumps({k: input_config[k] for k in keys if k in input_config}, sort_keys=True))


def images_to_tensor(items: Sequence[Any], input_config: dict[str, Any]) -> torch.Tensor:
    """Stack ``items`` into a normalised ``(n, C, H, W)`` float tensor.

    Parameters
    ----------
    items : sequence of ndarray or PIL.Image.Image
        Images of any size; each is converted to the model's channel count, resized,
        centre-cropped and normalised with the model's mean and std.
    input_config : dict
        The entry's input config.
    """
    if len(items) == 0:
        raise ZooError("cannot prepare an empty batch")
    channels = int(input_config["input_size"][0])
    transform = image_transform(input_config)
    return torch.stack([transform(to_pil(item, channels)) for item in items])


def resized_with_crop_box(item: Any, input_config: dict[str, Any]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The image as the model's transform sees it just before the centre crop, and the crop box.

    The evaluation transform is resize -> centre crop -> to tensor -> normalise. Feeding
    the returned array back through :func:`images_to_tensor` resizes nothing (it already
    has the target size), so an edit inside the crop box reaches the model pixel for pixel:
    perturbed datasets store their images this way.

    Parameters
    ----------
    item : ndarray or PIL.Image.Image
        One image item.
    input_config : dict
        The entry's input config.

    Returns
    -------
    resized : ndarray of shape (H, W, C), uint8
        C is the model's channel count.
    box : (top, left, height, width)
        Where the centre crop takes the model input from.
    """
    from torchvision import transforms

    channels = int(input_config["input_size"][0])
    steps = image_transform(input_config).transforms
    resize = next((step for step in steps if isinstance(step, transforms.Resize)), None)
    crop = next((step for step in steps if isinstance(step, transforms.CenterCrop)), None)
    if resize is None or crop is None:
        raise ZooError(f"input config {input_config} does not resize and centre-crop; cannot locate the model input")
    image = resize(to_pil(item, channels))
    array = np.asarray(image)
    array = np.ascontiguousarray(array[:, :, None] if array.ndim == 2 else array)
    height, width = (int(v) for v in crop.size)
    # torchvision's centre-crop arithmetic
    top = int(round((array.shape[0] - height) / 2.0))
    left = int(round((array.shape[1] - width) / 2.0))
    if top < 0 or left < 0:
        raise ZooError(f"an image of {array.shape[1]}x{array.shape[0]} after resizing is smaller than the {width}x{height} crop")
    return array, (top, left, height, width)

"""PNG bytes in and out: what the cache stores and what pages and tooltips show."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


#: Images up to this side are enlarged as squares of pixels, larger ones smoothly.
PIXEL_ART_SIDE = 32


def to_png(pixels: np.ndarray, side: int | None = None) -> bytes:
    """Encode ``(H, W)`` or ``(H, W, C)`` uint8 pixels (C in 1, 3) as PNG.

    Parameters
    ----------
    pixels : ndarray
    side : int, optional
        Resize so that the longer side is ``side`` pixels: nearest-neighbour when
        enlarging a small image (8 x 8 digits stay crisp squares), Lanczos otherwise.
    """
    array = np.asarray(pixels)
    if array.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    image = Image.fromarray(array)
    if side is not None and max(image.size) != side:
        scale = side / max(image.size)
        pixel_art = scale > 1 and max(image.size) <= PIXEL_ART_SIDE
        resample = Image.Resampling.NEAREST if pixel_art else Image.Resampling.LANCZOS
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), resample)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def from_png(png: bytes) -> np.ndarray:
    """Decode PNG bytes to ``(H, W, C)`` uint8 pixels (C = 1 for grey images)."""
    with Image.open(io.BytesIO(png)) as image:
        array = np.asarray(image.convert("L") if image.mode in ("L", "1", "I", "I;16") else image.convert("RGB"))
    return array[:, :, None] if array.ndim == 2 else array


def resized_png(png: bytes, side: int) -> bytes:
    """``png`` with its longer side resized to ``side`` (see :func:`to_png`)."""
    return to_png(from_png(png), side)


def png_data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI (for ``<img src>`` in tooltips and graph icons)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

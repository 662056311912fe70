"""Colour scales for graph views: a categorical palette for labels and sequential ramps.

Pure Python and numpy; nothing here imports a plotting library.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CATEGORICAL_PALETTE",
    "MISSING_COLOUR",
    "SEQUENTIAL_SCALES",
    "Legend",
    "categorical_colours",
    "sequential_colours",
]

#: Twenty distinguishable colours (Tableau 10 followed by its light variants).
CATEGORICAL_PALETTE: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#a0cbe8", "#ffbe7d", "#ff9d9a", "#8cd17d", "#b6992d",
    "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e",
)  # fmt: skip

#: Colour of values that have no colour (NaN, labels beyond the palette's reach).
MISSING_COLOUR = "#c8c8c8"

#: Anchor colours of the sequential ramps (evenly spaced from low to high).
SEQUENTIAL_SCALES: dict[str, tuple[str, ...]] = {
    "viridis": ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"),
    "magma": ("#000004", "#180f3d", "#440f76", "#721f81", "#9e2f7f", "#cd4071", "#f1605d", "#fd9668", "#feca8d", "#fcfdbf"),
    "red_yellow_green": ("#d73027", "#f46d43", "#fdae61", "#fee08b", "#ffffbf", "#d9ef8b", "#a6d96a", "#66bd63", "#1a9850"),
}  # fmt: skip


@dataclass
class Legend:
    """What a colouring means, for drawing a legend next to the graph.

    Parameters
    ----------
    title : str
        What the colour encodes (e.g. ``"majority label"``).
    kind : {'categorical', 'continuous'}
        Swatches per value, or a gradient between ``vmin`` and ``vmax``.
    entries : list of (str, str)
        Categorical: ``(value name, colour)`` pairs in display order.
    vmin, vmax : float
        Continuous: the values at the two ends of the gradient.
    stops : list of str
        Continuous: the gradient's colours from ``vmin`` to ``vmax``.
    """

    title: str
    kind: str
    entries: list[tuple[str, str]] = field(default_factory=list)
    vmin: float = 0.0
    vmax: float = 1.0
    stops: list[str] = field(default_factory=list)


def categorical_colours(values: Sequence[Hashable], order: Sequence[Hashable] | None = None) -> dict[Hashable, str]:
    """Give each distinct value a palette colour.

    Parameters
    ----------
    values : sequence of hashable
        Values to colour (e.g. class labels); duplicates are fine.
    order : sequence of hashable, optional
        Every possible value in a fixed order (e.g. all class labels), so the same
        value gets the same colour in every view. Default: the distinct ``values``
        sorted.

    Returns
    -------
    dict
        Value to ``#rrggbb``. Values past the palette's twenty colours cycle through it.
    """
    if order is None:
        order = sorted(set(values), key=lambda v: (str(type(v)), v))
    return {value: CATEGORICAL_PALETTE[i % len(CATEGORICAL_PALETTE)] for i, value in enumerate(order)}


def _hex_to_rgb(colour: str) -> np.ndarray:
    colour = colour.lstrip("#")
    return np.array([int(colour[k : k + 2], 16) for k in (0, 2, 4)], dtype=np.float64)


def sequential_colours(
    values: Sequence[float] | np.ndarray,
    vmin: float | None = None,
    vmax: float | None = None,
    scale: str = "viridis",
) -> list[str]:
    """Map numbers onto a sequential colour ramp.

    Parameters
    ----------
    values : array-like of float
        The numbers; NaN gets :data:`MISSING_COLOUR`.
    vmin, vmax : float, optional
        Ends of the ramp; default the finite minimum and maximum of ``values``.
    scale : str, default "viridis"
        A key of :data:`SEQUENTIAL_SCALES`.

    Returns
    -------
    list of str
        One ``#rrggbb`` per value.
    """
    if scale not in SEQUENTIAL_SCALES:
        raise ValueError(f"unknown colour scale {scale!r}; valid: {', '.join(SEQUENTIAL_SCALES)}")
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return [MISSING_COLOUR] * values.size
    low = float(np.min(values[finite])) if vmin is None else float(vmin)
    high = float(np.max(values[finite])) if vmax is None else float(vmax)
    span = high - low
    t = np.zeros(values.size) if span <= 0 else np.clip((values - low) / span, 0.0, 1.0)
    anchors = np.stack([_hex_to_rgb(c) for c in SEQUENTIAL_SCALES[scale]])
    grid = np.linspace(0.0, 1.0, len(anchors))
    rgb = np.stack([np.interp(np.where(finite, t, 0.0), grid, anchors[:, k]) for k in range(3)], axis=1)
    return [
        "#{:02x}{:02x}{:02x}".format(*np.rint(row).astype(int)) if ok else MISSING_COLOUR
        for row, ok in zip(rgb, finite)
    ]

"""Optimise an input image so that a layer's activation points along a direction.

The objective is activation atlases' "direction" objective (Carter et al., *Activation
Atlas*, Distill 2019): with ``a`` the layer's activation vector where the objective reads
it and ``d`` the unit target direction,

    objective = (a . d) * max(cos(a, d), 0.1) ** cossim_pow

The dot product rewards a strong activation along ``d``; the cosine factor makes the
optimiser turn the vector towards ``d`` instead of only growing it (a plain dot product
is best served by a huge activation that is mostly something else). The floor of 0.1
keeps the gradient pointing towards ``d`` while the two still disagree.

Where the objective reads the layer (:class:`Where`): at one spatial position, given as a
relative location so that it carries over from the extraction resolution to the render
resolution (the node's members were sampled at positions of a 224 px input; the image is
rendered at 128 px), or pooled over positions (``gap`` sampling), or the layer's only
vector (pooled layers, MLPs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from topoact.extract.hooks import capture, resolve_layers
from topoact.featvis.errors import FeatvisError
from topoact.featvis.image_param import FourierImage, random_affine
from topoact.progress import Progress

#: Side in pixels of rendered images for models whose input is larger than
#: :data:`NATIVE_SIZE_LIMIT` (the ImageNet models): the CPU budget, see bench/RESULTS.md.
DEFAULT_RENDER_SIZE = 128
#: Models with inputs up to this side (the 8 x 8 digits models) render at their own size.
NATIVE_SIZE_LIMIT = 64
#: Floor of the cosine factor of the objective.
COSINE_FLOOR = 0.1


@dataclass(frozen=True)
class RenderParams:
    """Settings of one optimisation (all part of the cache key).

    Parameters
    ----------
    size : int or None
        Side of the rendered square image; None: the model's own input side when it is at
        most :data:`NATIVE_SIZE_LIMIT`, else :data:`DEFAULT_RENDER_SIZE`.
    steps : int, default 256
        Adam steps.
    lr : float, default 0.05
        Adam learning rate on the spectrum.
    seed : int, default 0
        Seeds the initial image and every random transform.
    cossim_pow : float, default 4.0
        Weight of the cosine factor of the objective (4 aligns the digits models' nodes
        best; 1 and 2 trade alignment for activation strength).
    decay_power : float, default 1.0
        Damping of high frequencies in the Fourier parameterisation.
    jitter : float, default 0.04
        Largest random shift per step, as a fraction of the side (at least half a pixel).
    degrees : float, default 5.0
        Largest random rotation per step.
    scale : float, default 0.05
        Random scaling per step within ``1 +- scale``.
    """

    size: int | None = None
    steps: int = 256
    lr: float = 0.05
    seed: int = 0
    cossim_pow: float = 4.0
    decay_power: float = 1.0
    jitter: float = 0.04
    degrees: float = 5.0
    scale: float = 0.05

    def __post_init__(self) -> None:
        def whole(name: str, low: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise FeatvisError(f"{name} must be an integer >= {low}, got {value!r}")

        if self.size is not None:
            whole("size", 4)
        whole("steps", 1)
        whole("seed", 0)
        for name, low, high in (("lr", 0.0, 10.0), ("cossim_pow", 0.0, 16.0), ("decay_power", 0.0, 4.0),
                                ("jitter", 0.0, 0.5), ("degrees", 0.0, 90.0), ("scale", 0.0, 0.5)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not low <= value <= high or (name == "lr" and value == 0):
                raise FeatvisError(f"{name} must be a number in {'(' if name == 'lr' else '['}{low}, {high}], got {value!r}")

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON values."""
        return asdict(self)


@dataclass(frozen=True)
class Where:
    """Which vector of a layer's output the objective reads.

    Parameters
    ----------
    kind : {'position', 'pooled'}
        ``position``: the vector at one spatial position (or patch token);
        ``pooled``: the mean over positions, or the only vector of an ``(N, C)`` output.
    row, col : float
        Relative location in ``[0, 1)`` of the position (``position`` only): the centre
        of the extraction grid's cell, mapped onto the render grid.
    """

    kind: Literal["position", "pooled"] = "pooled"
    row: float = 0.5
    col: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (part of cache keys)."""
        return {"kind": self.kind, "row": round(float(self.row), 6), "col": round(float(self.col), 6)}


@dataclass
class Visualization:
    """An optimised image and how well it reached its target.

    Attributes
    ----------
    image : ndarray of shape (H, W, C), uint8
    cosine : float
        Cosine between the target direction and the layer's activation for ``image`` (as
        saved, without transforms), where :attr:`where` reads it.
    objective : list of float
        The objective every 16 steps (and at the last step).
    layer : str
    where : Where
    params : RenderParams
        With ``size`` resolved.
    seconds : float
        Wall time of the optimisation.
    grid : (rows, cols)
        The layer's grid at the render size.
    meta : dict
        Free-form (the cache adds ``cached`` and ``key``).
    """

    image: np.ndarray
    cosine: float
    objective: list[float]
    layer: str
    where: Where
    params: RenderParams
    seconds: float
    grid: tuple[int, int] = (1, 1)
    meta: dict = field(default_factory=dict)

    def patch(self) -> np.ndarray:
        """The part of :attr:`image` around where the objective reads the layer (all of it when pooled).

        The same window as an exemplar's patch (:func:`patch_box`): what the icon of a
        node shows, since the rest of the image barely reaches that position.
        """
        top, left, bottom, right = patch_box(self.where, self.image.shape[0], self.image.shape[1], self.grid)
        return self.image[top:bottom, left:right]


# --------------------------------------------------------------------------- model facts
def check_image_model(model: Any) -> None:
    """Raise :class:`FeatvisError` unless ``model`` takes images."""
    entry = getattr(model, "entry", None)
    modality = getattr(entry, "modality", None)
    if modality != "image":
        name = getattr(entry, "name", type(model).__name__)
        raise FeatvisError(
            f"feature visualization optimises images, but {name!r} is a {modality} model; "
            "text models get their nearest tokens, sentences and vocabulary instead "
            "(topoact.featvis.text_featvis)"
        )


def input_spec(model: Any) -> tuple[int, int | None, torch.Tensor, torch.Tensor]:
    """``(channels, native side or None, mean, std)`` of an image model's input.

    From the zoo entry's input config; a model without one (a wrapped ``nn.Module``) is
    taken to read RGB in ``[0, 1]``.
    """
    config = getattr(model, "input_config", None) or {}
    size = config.get("input_size")
    channels = int(size[0]) if size else 3
    native = int(max(size[1], size[2])) if size else None
    mean = torch.tensor(config.get("mean", (0.0,) * channels), dtype=torch.float32).reshape(1, -1, 1, 1)
    std = torch.tensor(config.get("std", (1.0,) * channels), dtype=torch.float32).reshape(1, -1, 1, 1)
    if channels not in (1, 3) or mean.numel() != channels or std.numel() != channels:
        raise FeatvisError(f"cannot render inputs with input config {config!r}: 1 or 3 channels expected")
    return channels, native, mean, std


def render_size(model: Any, params: RenderParams) -> int:
    """The side an image for ``model`` is rendered at under ``params``."""
    if params.size is not None:
        return int(params.size)
    _, native, _, _ = input_spec(model)
    return native if native is not None and native <= NATIVE_SIZE_LIMIT else DEFAULT_RENDER_SIZE


def _module_device(module: torch.nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    return torch.device("cpu")


# --------------------------------------------------------------------------- reading the layer
def layer_grid(shape: tuple[int, ...], layout: str = "nchw") -> tuple[int, int, int]:
    """``(prefix tokens, rows, cols)`` of one sample's layer output shape (without batch)."""
    if len(shape) == 3:
        return (0, shape[1], shape[2]) if layout == "nchw" else (0, shape[0], shape[1])
    if len(shape) == 2:
        tokens = shape[0]
        for prefix in (0, 1):  # a square patch grid, possibly after a class token
            side = math.isqrt(max(tokens - prefix, 0))
            if side > 0 and side * side == tokens - prefix:
                return prefix, side, side
        return 0, tokens, 1
    return 0, 1, 1


def where_of_position(position: int, layer_shape: tuple[int, ...], layout: str = "nchw") -> Where:
    """The :class:`Where` of a flattened extraction position in a layer of ``layer_shape``.

    Parameters
    ----------
    position : int
        ``h * W + w`` (or a token index), ``-1`` for a pooled vector.
    layer_shape : tuple of int
        One sample's layer output shape at extraction (``ActivationSet.meta['layer_shape']``).
    layout : {'nchw', 'nhwc'}
    """
    if position < 0 or len(layer_shape) < 2:
        return Where("pooled")
    prefix, rows, cols = layer_grid(tuple(layer_shape), layout)
    cell = position - prefix
    if cell < 0 or cell >= rows * cols:
        return Where("pooled")
    h, w = divmod(cell, cols)
    return Where("position", (h + 0.5) / rows, (w + 0.5) / cols)


#: A patch is this many cells of the layer's grid wide ...
PATCH_CELLS = 4
#: ... and at least this share of the input's side.
PATCH_MIN_SHARE = 1 / 8


def patch_box(where: Where, height: int, width: int, grid: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` of the input region a position's vector mostly describes.

    A square centred on the position's cell, :data:`PATCH_CELLS` cells wide and at least
    :data:`PATCH_MIN_SHARE` of the side, slid inside the input; the whole input for a
    pooled ``where``.

    Parameters
    ----------
    where : Where
    height, width : int
        The input's size.
    grid : (rows, cols)
        The layer's grid at that input size.
    """
    if where.kind != "position":
        return 0, 0, height, width
    rows, cols = max(grid[0], 1), max(grid[1], 1)
    side_h = int(round(min(height, max(PATCH_CELLS * height / rows, PATCH_MIN_SHARE * height))))
    side_w = int(round(min(width, max(PATCH_CELLS * width / cols, PATCH_MIN_SHARE * width))))
    top = min(max(int(round(where.row * height - side_h / 2)), 0), height - side_h)
    left = min(max(int(round(where.col * width - side_w / 2)), 0), width - side_w)
    return top, left, top + side_h, left + side_w


def read_layer(output: torch.Tensor, where: Where, layout: str = "nchw") -> torch.Tensor:
    """The ``(N, C)`` vectors of a layer output ``output`` that ``where`` points at."""
    if output.ndim == 2:
        return output
    if output.ndim == 4 and layout == "nhwc":
        output = output.permute(0, 3, 1, 2)
    if where.kind == "pooled":
        return output.mean(dim=(2, 3)) if output.ndim == 4 else output.mean(dim=1)
    if output.ndim == 4:
        rows, cols = output.shape[2], output.shape[3]
        h = min(int(where.row * rows), rows - 1)
        w = min(int(where.col * cols), cols - 1)
        return output[:, :, h, w]
    if output.ndim == 3:
        prefix, rows, cols = layer_grid(tuple(output.shape[1:]), "nchw")
        h = min(int(where.row * rows), rows - 1)
        w = min(int(where.col * cols), cols - 1)
        return output[:, prefix + h * cols + w]
    raise FeatvisError(f"cannot read a layer output of shape {tuple(output.shape)}")


def _unit_direction(direction: Any) -> torch.Tensor:
    d = torch.as_tensor(np.asarray(direction, dtype=np.float32)).reshape(-1)
    norm = float(d.norm())
    if not math.isfinite(norm) or norm == 0.0:
        raise FeatvisError("the target direction must be a finite, non-zero vector")
    return d / norm


def direction_objective(vectors: torch.Tensor, unit_direction: torch.Tensor, cossim_pow: float) -> torch.Tensor:
    """Activation atlases' direction objective per row of ``vectors`` (see the module docstring)."""
    dot = vectors @ unit_direction
    cosine = dot / (vectors.norm(dim=1) + 1e-8)
    return dot * cosine.clamp(min=COSINE_FLOOR) ** cossim_pow


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (the previous count is restored).

    oneDNN's convolutions sum in an order that depends on the thread count, and a few
    hundred optimisation steps amplify the last-bit differences into other pixels: one
    thread makes the image the same whatever the caller's setting. On this 2-core VM
    it is also the faster setting (bench/RESULTS.md).
    """
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def _check_layer(module: torch.nn.Module, layer: str) -> None:
    try:
        resolve_layers(module, [layer])
    except ValueError as exc:
        raise FeatvisError(str(exc)) from None


def activation_cosines(
    model: Any, layer: str, images: torch.Tensor, direction: Any, where: Where, *, layout: str = "nchw"
) -> np.ndarray:
    """Cosine between ``direction`` and the layer's vector for each image.

    Parameters
    ----------
    model : LoadedModel-like
        An image model.
    layer : str
        Dotted module name.
    images : Tensor of shape (N, C, H, W)
        Pixels in ``[0, 1]`` (normalised here with the model's mean and std).
    direction : array-like of shape (dim,)
    where : Where

    Returns
    -------
    ndarray of shape (N,), float64
    """
    check_image_model(model)
    module = model.module
    _check_layer(module, layer)
    _, _, mean, std = input_spec(model)
    d = _unit_direction(direction)
    device = _module_device(module)
    with torch.no_grad(), capture(module, [layer], stop_after=True) as cap:
        cap.forward(module, ((images.float() - mean) / std).to(device))
        vectors = read_layer(cap.outputs[layer], where, layout).float().cpu()
    _check_width(vectors, d, layer)
    cos = (vectors @ d) / (vectors.norm(dim=1) + 1e-8)
    return cos.double().numpy()


def _check_width(vectors: torch.Tensor, d: torch.Tensor, layer: str) -> None:
    if vectors.shape[-1] != d.numel():
        raise FeatvisError(
            f"layer {layer!r} gives {vectors.shape[-1]}-d vectors but the direction has {d.numel()} "
            "entries; the node must come from activations of this layer"
        )


def visualize_direction(
    model: Any,
    layer: str,
    direction: Any,
    *,
    where: Where | None = None,
    params: RenderParams | None = None,
    layout: str = "nchw",
    progress: Progress | None = None,
) -> Visualization:
    """Optimise an image whose activation at ``layer`` points along ``direction``.

    Parameters
    ----------
    model : LoadedModel-like
        An image model (``.module``, ``.entry.modality == 'image'``, and an input config
        giving channels, mean and std when it has one).
    layer : str
        Dotted module name.
    direction : array-like of shape (dim,)
        Target direction, e.g. a Mapper node's mean activation vector.
    where : Where, optional
        Where the objective reads the layer; default pooled.
    params : RenderParams, optional
    layout : {'nchw', 'nhwc'}
        Layout of 4-D layer outputs.
    progress : callable(fraction, message), optional
        Called every few steps; the message counts the steps.

    Returns
    -------
    Visualization

    Raises
    ------
    FeatvisError
        A text model, an unknown layer, a direction whose length is not the layer's
        width, a zero direction, bad parameters.
    """
    check_image_model(model)
    params = params or RenderParams()
    where = where or Where()
    module = model.module
    _check_layer(module, layer)
    module.eval()
    channels, _, mean, std = input_spec(model)
    side = render_size(model, params)
    params = RenderParams(**{**params.as_dict(), "size": side})
    d = _unit_direction(direction)
    device = _module_device(module)
    mean, std, d_dev = mean.to(device), std.to(device), d.to(device)
    generator = torch.Generator().manual_seed(int(params.seed))
    image = FourierImage(channels, side, side, generator, decay_power=params.decay_power)
    optimiser = torch.optim.Adam(image.parameters(), lr=params.lr)
    max_shift = max(0.5, params.jitter * side)
    trace: list[float] = []
    grid = (1, 1)
    started = time.perf_counter()
    report_every = max(1, params.steps // 50)
    with one_torch_thread(), torch.inference_mode(False), torch.enable_grad(), \
            capture(module, [layer], reduce=lambda _name, tensor: tensor, stop_after=True) as cap:
        for step in range(params.steps):
            seen = random_affine(image(), generator, max_shift=max_shift, max_degrees=params.degrees,
                                 max_scale=params.scale)
            cap.forward(module, ((seen.to(device) - mean) / std))
            output = cap.outputs[layer]
            vectors = read_layer(output, where, layout).float()
            if step == 0:
                _check_width(vectors, d_dev, layer)
                _, rows, cols = layer_grid(tuple(output.shape[1:]), layout) if output.ndim > 2 else (0, 1, 1)
                grid = (int(rows), int(cols))
            objective = direction_objective(vectors, d_dev, params.cossim_pow).sum()
            # gradients for the image only: the model's weights need none
            (gradient,) = torch.autograd.grad(-objective, [image.spectrum])
            # unit-norm steps: the cosine floor changes the gradient's scale by 0.1 ** cossim_pow,
            # which Adam's memory of earlier squared gradients would turn into a stall
            image.spectrum.grad = gradient / (gradient.norm() + 1e-12)
            optimiser.step()
            if step % 16 == 0 or step == params.steps - 1:
                trace.append(round(float(objective.detach()), 6))
            if progress is not None and (step % report_every == 0 or step == params.steps - 1):
                progress((step + 1) / params.steps, f"optimising the image: step {step + 1:,} / {params.steps:,}")
    seconds = time.perf_counter() - started
    with torch.no_grad():
        final = image().detach().cpu()
    pixels = np.rint(final[0].permute(1, 2, 0).numpy() * 255.0).clip(0, 255).astype(np.uint8)
    # the cosine of the image as saved (8-bit pixels), the same one a reader reproduces
    saved = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255.0
    with one_torch_thread():
        cosine = float(activation_cosines(model, layer, saved, d.numpy(), where, layout=layout)[0])
    return Visualization(image=pixels, cosine=cosine, objective=trace, layer=layer, where=where,
                         params=params, seconds=round(seconds, 3), grid=grid)

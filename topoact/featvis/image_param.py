"""The image being optimised: a decorrelated Fourier parameterisation and seeded transforms.

Lucid's recipe for readable feature visualizations (Olah et al., *Feature Visualization*,
Distill 2017), written out here because torch-lucent (the maintained port) pins
``kornia<=0.4.1``, draws its transforms from the global NumPy/torch generators and
hard-codes ImageNet normalisation and 224 px upsampling (see ``topoact.featvis``):

* the image is a spectrum whose coefficients are scaled by ``1 / frequency``, so plain
  gradient steps change low frequencies as fast as high ones (no high-frequency noise);
* colours are optimised in a decorrelated basis (the square root of ImageNet's colour
  covariance) and squashed into ``[0, 1]`` with a sigmoid;
* every step sees the image through a random small shift, rotation and scale, so the
  result must work wherever the layer looks at it, not only through one pixel grid.

All randomness comes from a ``torch.Generator`` seeded by the caller.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Square root of ImageNet's RGB covariance (Lucid's ``color_correlation_svd_sqrt``).
COLOUR_CORRELATION_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02],
     [0.27, 0.00, -0.05],
     [0.27, -0.09, 0.03]],
    dtype=torch.float32,
)  # fmt: skip
_COLOUR_BASIS = COLOUR_CORRELATION_SQRT / COLOUR_CORRELATION_SQRT.norm(dim=0).max()


def spectrum_scale(height: int, width: int, decay_power: float = 1.0) -> torch.Tensor:
    """``1 / |frequency| ** decay_power`` for the coefficients of a real 2-D FFT, shape (H, W//2 + 1)."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    frequency = torch.sqrt(fx * fx + fy * fy)
    return 1.0 / torch.clamp(frequency, min=1.0 / max(height, width)) ** decay_power


class FourierImage(nn.Module):
    """An image in ``[0, 1]`` of shape (1, C, H, W) held as a scaled, colour-decorrelated spectrum.

    Parameters
    ----------
    channels : int
        1 (grey) or 3 (RGB; colours decorrelated).
    height, width : int
    generator : torch.Generator
        Draws the initial spectrum (standard deviation ``init_std``).
    init_std : float, default 0.01
    decay_power : float, default 1.0
        How strongly high frequencies are damped.
    """

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        generator: torch.Generator,
        init_std: float = 0.01,
        decay_power: float = 1.0,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"images have 1 or 3 channels, got {channels}")
        self.channels, self.height, self.width = channels, height, width
        shape = (1, channels, height, width // 2 + 1, 2)
        self.spectrum = nn.Parameter(torch.randn(shape, generator=generator) * init_std)
        self.register_buffer("scale", spectrum_scale(height, width, decay_power)[None, None, :, :, None])

    def forward(self) -> torch.Tensor:
        coefficients = torch.view_as_complex((self.spectrum * self.scale).contiguous())
        image = torch.fft.irfft2(coefficients, s=(self.height, self.width), norm="ortho") / 4.0
        if self.channels == 3:
            image = torch.einsum("nchw,dc->ndhw", image, _COLOUR_BASIS.to(image))
        return torch.sigmoid(image)


def random_affine(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    max_shift: float,
    max_degrees: float,
    max_scale: float,
) -> torch.Tensor:
    """One random shift, rotation and scale per image, applied with bilinear resampling.

    Parameters
    ----------
    images : Tensor of shape (N, C, H, W)
    generator : torch.Generator
        The only source of randomness.
    max_shift : float
        Largest shift, in pixels, along each axis.
    max_degrees : float
        Largest rotation angle.
    max_scale : float
        Scales are drawn from ``[1 - max_scale, 1 + max_scale]``.

    Returns
    -------
    Tensor of the same shape; pixels brought in from outside are reflected.
    """
    n, _, h, w = images.shape
    u = torch.rand((n, 4), generator=generator) * 2.0 - 1.0  # in [-1, 1)
    angle = u[:, 0] * math.radians(max_degrees)
    scale = 1.0 + u[:, 1] * max_scale
    shift_x = u[:, 2] * (2.0 * max_shift / w)  # affine_grid's coordinates span 2 per side
    shift_y = u[:, 3] * (2.0 * max_shift / h)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift_x], dim=1), torch.stack([sin, cos, shift_y], dim=1)], dim=1
    ).to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

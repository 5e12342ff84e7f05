"""The official MoCo blur as a 1-D kernel, so the fast paths blur exactly as PIL does.

Official MoCo blurs with PIL's `ImageFilter.GaussianBlur(radius=sigma)`, which is not a sampled Gaussian:
PIL runs three passes of an "extended" box blur (a box with fractional end weights) whose variance equals
sigma^2 (Gwosdek et al., SSVM 2011; PIL's BoxBlur.c `_gaussian_blur_radius`), with edge pixels repeated.
At small sigma the difference matters: on white noise a sampled Gaussian of sigma 0.2 is the identity
while PIL's blur removes ~9% of the pixel-to-pixel detail; on smooth images PIL's rounding to uint8 after
every pass makes it a no-op there too. `blur_batch` (the device path) reproduces passes and rounding and
matches PIL to one level; the workers' OpenCV path uses a sampled Gaussian (cpu_colour.py, measured there).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

PASSES = 3


def box_radius(sigma: float, passes: int = PASSES) -> float:
    """PIL's `_gaussian_blur_radius`: the extended-box radius whose `passes`-fold variance is sigma^2."""
    sigma2 = sigma * sigma / passes
    length = math.sqrt(12.0 * sigma2 + 1.0)
    whole = math.floor((length - 1.0) / 2.0)
    frac = (2 * whole + 1) * (whole * (whole + 1) - 3 * sigma2) / (6 * (sigma2 - (whole + 1) ** 2))
    return whole + frac


def _box(radius: float) -> np.ndarray:
    """One extended box: 1 on [-r_int, r_int], the fraction at +-(r_int + 1), normalised by 2r + 1."""
    whole = math.floor(radius)
    frac = radius - whole
    kernel = np.ones(2 * whole + 3)
    kernel[0] = kernel[-1] = frac
    return kernel / (2 * radius + 1)


def pil_box_kernels(sigmas: torch.Tensor) -> torch.Tensor:
    """(n, K) float32 extended boxes (one pass of PIL's blur) for a batch of sigmas, centred, zero-padded.

    sigma <= 0 gives the identity (PIL's radius 0)."""
    radii = [box_radius(float(s)) if s > 0 else 0.0 for s in sigmas.detach().cpu().reshape(-1)]
    boxes = [_box(r) if r > 0 else np.ones(1) for r in radii]
    size = max((b.shape[0] for b in boxes), default=1)
    out = np.zeros((len(boxes), size), dtype=np.float32)
    for i, b in enumerate(boxes):
        start = (size - b.shape[0]) // 2
        out[i, start : start + b.shape[0]] = b
    return torch.from_numpy(out)


def blur_batch(img: torch.Tensor, boxes: torch.Tensor, levels: float | None = 255.0) -> torch.Tensor:
    """PIL's blur of (n, C, H, W) float images: per-sample (n, K) boxes, three horizontal passes then
    three vertical, each with its edge pixels repeated (as PIL's BoxBlur.c, which pads every pass).

    PIL rounds to uint8 after every pass, so at small sigma, on smooth images, its blur does almost nothing
    (a neighbour difference times the box's small end weight rounds away). `levels` (255 for images in
    [0, 1]) rounds the same way after each pass; None keeps the float cascade."""
    n, c, h, w = img.shape
    k = boxes.to(img.device, img.dtype)
    pad = k.shape[1] // 2
    weight = k.repeat_interleave(c, dim=0)  # one filter per (sample, channel)
    x = img.reshape(1, n * c, h, w)
    for pads, shape in (((pad, pad, 0, 0), (n * c, 1, 1, -1)), ((0, 0, pad, pad), (n * c, 1, -1, 1))):
        for _ in range(PASSES):
            x = F.conv2d(F.pad(x, pads, mode="replicate"), weight.view(shape), groups=n * c)
            if levels:
                x = torch.floor(x * levels + 0.5) / levels  # PIL: (acc + 2^23) >> 24, round half up
    return x.view(n, c, h, w)

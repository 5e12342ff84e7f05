"""SimCLR v1's colour distortion and blur in TensorFlow's definitions, batched per sample on float images.

SimCLR's augmentation is not torchvision's: its code (google-research/simclr, tag 1.0 = 85e8552, the v1 path;
HEAD defaults to v2's multiplicative brightness) runs `tf.image` ops on float images in [0, 1]:
- brightness `tf.image.random_brightness`: x + U[-b, b] (data_util.py L125), not a multiplication;
- contrast `tf.image.random_contrast`: each channel blended with its own mean, (x - m_c) * f + m_c (L130),
  where torchvision blends all three with the luma's mean;
- saturation `tf.image.random_saturation`: HSV saturation times f, clipped to [0, 1] (L135-136), where
  torchvision blends with the luma image;
- hue `tf.image.random_hue`: H + U[-h, h] turns, wrapped (L141);
- the four in a random order per image, the image clipped to [0, 1] after each (L147-150);
- grayscale `tf.image.rgb_to_grayscale`, weights 0.2989 / 0.5870 / 0.1140, tiled to 3 channels (L41-45);
- blur: a sampled Gaussian of 2 * (size // 10 // 2) + 1 taps, sigma ~ U[0.1, 2.0], separable, zero padding
  ('SAME'), then clipped (L305-324, L380-410). SimCLR draws one sigma per batch of views on a TPU core;
  here each image draws its own, as every other blur of mocobench does.

One implementation serves every path: `draw` takes any uniform source (torch's global generator for the PIL
reference, a torch Generator on the device, a numpy Generator in loader workers), `apply` runs on
(N, 3, H, W) float tensors with per-sample parameters. kornia has no per-channel-mean contrast nor
TensorFlow's additive brightness, so these few lines are ours; the formulas are TensorFlow's, tested against
a per-pixel transcription.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from mocobench.augment.spec import TFBlur, TFGrayscale, TFJitter

Rand = Callable[..., torch.Tensor]  # rand(*shape) -> float32 tensor uniform in [0, 1) on the host
TF_GRAY = (0.2989, 0.5870, 0.1140)  # tf.image.rgb_to_grayscale's weights
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


def draw(op: TFJitter | TFGrayscale | TFBlur, n: int, rand: Rand) -> dict[str, torch.Tensor]:
    """Every random draw of `op` for `n` images (made whether or not the op applies, so a seed's stream
    does not depend on earlier outcomes)."""
    if isinstance(op, TFJitter):
        return {
            "apply": rand(n) < op.p,
            "order": rand(n, 4).argsort(dim=1),  # uniform over the 24 orders, as tf.random_shuffle
            "brightness": (rand(n) * 2 - 1) * op.brightness,
            "contrast": 1 - op.contrast + rand(n) * 2 * op.contrast,
            "saturation": 1 - op.saturation + rand(n) * 2 * op.saturation,
            "hue": (rand(n) * 2 - 1) * op.hue,
        }
    if isinstance(op, TFGrayscale):
        return {"apply": rand(n) < op.p}
    lo, hi = op.sigma
    return {"apply": rand(n) < op.p, "sigma": lo + rand(n) * (hi - lo)}


def apply(
    op: TFJitter | TFGrayscale | TFBlur, img: torch.Tensor, params: dict[str, torch.Tensor]
) -> torch.Tensor:
    """`op` on the images of `img` (N, 3, H, W, float in [0, 1]) whose `params["apply"]` is set."""
    mask = params["apply"].to(img.device)
    if not bool(mask.any()):
        return img
    if isinstance(op, TFJitter):
        out = _jitter(img, op, {k: v.to(img.device) for k, v in params.items()})
    elif isinstance(op, TFGrayscale):
        out = grayscale(img)
    else:
        out = blur(img, params["sigma"].to(img.device), op.kernel_frac)
    return torch.where(mask.view(-1, 1, 1, 1), out, img)


def _jitter(img: torch.Tensor, op: TFJitter, p: dict[str, torch.Tensor]) -> torch.Tensor:
    fns = {
        "brightness": lambda x: brightness(x, p["brightness"]),
        "contrast": lambda x: contrast(x, p["contrast"]),
        "saturation": lambda x: saturation(x, p["saturation"]),
        "hue": lambda x: hue(x, p["hue"]),
    }
    for stage in range(4):
        for k, name in enumerate(JITTER_OPS):
            if getattr(op, name) == 0:  # the TF code returns the image unchanged for a zero strength
                continue
            here = (p["order"][:, stage] == k).view(-1, 1, 1, 1)
            if bool(here.any()):
                img = torch.where(here, fns[name](img), img)
        img = img.clamp(0.0, 1.0)
    return img


def brightness(x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    return x + delta.view(-1, 1, 1, 1)


def contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(2, 3), keepdim=True)  # per channel
    return (x - mean) * factor.view(-1, 1, 1, 1) + mean


def saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    h, s, v = rgb_to_hsv(x)
    return hsv_to_rgb(h, (s * factor.view(-1, 1, 1)).clamp(0.0, 1.0), v)


def hue(x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    h, s, v = rgb_to_hsv(x)
    return hsv_to_rgb(torch.remainder(h + delta.view(-1, 1, 1), 1.0), s, v)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(TF_GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True).expand(-1, 3, -1, -1).contiguous()


def rgb_to_hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, 3, H, W) RGB -> H in [0, 1) turns, S, V (N, H, W): the hexcone model `tf.image` uses."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    v, _ = x.max(dim=1)
    c = v - x.min(dim=1).values
    s = torch.where(v > 0, c / v.clamp_min(1e-12), torch.zeros_like(v))
    safe = c.clamp_min(1e-12)
    h = torch.where(v == r, (g - b) / safe, torch.where(v == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    h = torch.where(c > 0, torch.remainder(h / 6, 1.0), torch.zeros_like(h))
    return h, s, v


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The inverse of `rgb_to_hsv`."""
    h6 = h * 6
    k = torch.stack([torch.remainder(n + h6, 6) for n in (5, 3, 1)], dim=1)  # R, G, B
    t = torch.minimum(k, 4 - k).clamp(0.0, 1.0)
    return v.unsqueeze(1) - (v * s).unsqueeze(1) * t


def blur(x: torch.Tensor, sigma: torch.Tensor, kernel_frac: float = 0.1) -> torch.Tensor:
    """SimCLR's `gaussian_blur`: per-image sampled Gaussian kernels, separable, zero padding, then clipped."""
    n, c, height, width = x.shape
    radius = int(height * kernel_frac) // 2  # kernel_size = height // 10; radius = kernel_size // 2
    if radius == 0:
        return x
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(taps**2).view(1, -1) / (2 * sigma.to(x.dtype).view(-1, 1) ** 2))
    k = (k / k.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (n * c, taps)
    y = x.reshape(1, n * c, height, width)
    y = F.conv2d(y, k.view(n * c, 1, 1, -1), padding=(0, radius), groups=n * c)
    y = F.conv2d(y, k.view(n * c, 1, -1, 1), padding=(radius, 0), groups=n * c)
    return y.view(n, c, height, width).clamp(0.0, 1.0)

"""The colour half of a `ViewSpec`, batched on the training device with per-sample random parameters.

The loader does the geometry (crop + flip) and hands over already-cropped views; `DeviceAugment` runs
`spec.colour` in order on the whole batch, then ImageNet normalisation. Every random choice is drawn per
sample, as the per-image reference path (`reference.py`, the official MoCo `main_moco.py` / `moco/loader.py`)
draws it per image: whether an op applies, the jitter factors, the jitter order, the blur sigma.

Ops are kornia's torchvision-compatible functions (kornia's own `ColorJitter`/`ColorJiggle` augmentations
draw one jitter order per batch, so they are not used):

- brightness: `adjust_brightness_accumulative` (multiply, clamp). kornia's `adjust_brightness` *adds*.
- contrast: `adjust_contrast_with_mean_subtraction` (blend with the per-image mean of the luma).
  kornia's `adjust_contrast` only multiplies.
- saturation: `adjust_saturation_with_gray_subtraction` (blend with the luma). kornia's `adjust_saturation`
  scales HSV saturation, which moves pixels towards max(R, G, B), not towards the luma.
- hue: `adjust_hue`, whose factor is in radians: torchvision's hue factor (turns) times 2π.
- grayscale: `kornia.color.rgb_to_grayscale`: luma 0.299 R + 0.587 G + 0.114 B, as PIL's `convert("L")`;
  torchvision's tensor functions weight R by 0.2989 (a 1e-4 difference, also in contrast and saturation).
- blur: PIL's own blur (`blur.py`: three extended-box passes per axis, variance sigma², edges repeated),
  per-sample kernels as grouped convolutions. The official code blurs with PIL's `GaussianBlur`; a sampled
  Gaussian (kornia's `gaussian_blur2d`, torchvision) agrees from ~0.5 px up but hardly blurs below 0.3 px,
  which is where the sigma range lands on small views (0.01-0.29 px at 32 px).
- solarize: `kornia.enhance.solarize` (pixels >= threshold become 1 - value, as torchvision).

Samples an op does not apply to are left out of its computation (gathered by index, written back with
`index_copy_`), so each sample costs what it would cost alone. Which samples those are is decided on the
host: the draws come from a CPU generator (or are copied to the host once per batch), so nothing waits on the
device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import kornia
import torch

from mocobench.augment import simclr
from mocobench.augment.blur import blur_batch, pil_box_kernels
from mocobench.augment.spec import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TF_OPS,
    Blur,
    Grayscale,
    Jitter,
    Solarize,
    ViewSpec,
)

# torchvision ColorJitter's numbering of its four ops (`fn_idx` in ColorJitter.get_params).
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


def sample_params(
    spec: ViewSpec, n: int, generator: torch.Generator | None, device: torch.device | str | None
) -> dict[str, torch.Tensor]:
    """All random draws for `n` samples of `spec.colour`, returned on `device`.

    Keys, present for the ops the spec has: `jitter_apply`, `jitter_brightness`, `jitter_contrast`,
    `jitter_saturation`, `jitter_hue` (torchvision's hue factor, in turns), `jitter_order` ((n, 4) long:
    row i is sample i's permutation of `JITTER_OPS`, applied left to right), `grayscale_apply`,
    `blur_apply`, `blur_sigma` (pixels), `solarize_apply`. `*_apply` are bool. Every draw is made whether or
    not the op applies, so the stream a seed gives does not depend on earlier outcomes. Draws use
    `generator` on its own device (the global CPU generator when None), then move to `device` (None: stay).
    """
    _check_spec(spec)
    draw_device = generator.device if generator is not None else torch.device("cpu")

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=draw_device)

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return rand(n).mul_(hi - lo).add_(lo)

    params: dict[str, torch.Tensor] = {}
    for op in spec.colour:
        if isinstance(op, Jitter):
            # torchvision RandomApply(ColorJitter(b, c, s, h), p): factors ~ U[max(0, 1 - x), 1 + x],
            # hue ~ U[-h, h], and a fresh permutation of the four ops per call (= per image).
            params["jitter_apply"] = rand(n) < op.p
            for name in JITTER_OPS[:3]:
                x = getattr(op, name)
                params[f"jitter_{name}"] = uniform(max(0.0, 1.0 - x), 1.0 + x)
            params["jitter_hue"] = uniform(-op.hue, op.hue)
            params["jitter_order"] = rand(n, 4).argsort(dim=1)  # uniform over the 24 permutations
        elif isinstance(op, Grayscale):
            params["grayscale_apply"] = rand(n) < op.p
        elif isinstance(op, Blur):
            # Official MoCo moco/loader.py GaussianBlur: sigma ~ U[0.1, 2.0] per image (scaled by the config).
            params["blur_apply"] = rand(n) < op.p
            params["blur_sigma"] = uniform(*op.sigma)
        elif isinstance(op, Solarize):
            params["solarize_apply"] = rand(n) < op.p
        elif isinstance(op, TF_OPS):  # SimCLR's ops (augment/simclr.py)
            params.update({f"{type(op).__name__}_{k}": v for k, v in simclr.draw(op, n, rand).items()})
    return {k: v.to(device) for k, v in params.items()}


class DeviceAugment(torch.nn.Module):
    """`spec.colour` on a batch of cropped views, per-sample random, then ImageNet normalisation."""

    def __init__(self, spec: ViewSpec, normalize: bool = True) -> None:
        super().__init__()
        _check_spec(spec)
        self.spec = spec
        self.normalize = normalize

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x: (N, 3, H, W) uint8 (0-255) or float in [0, 1], on any device, any memory format.

        Returns float32 (N, 3, H, W) on x's device: spec.colour applied in order with independent random
        parameters per sample, then normalised by spec.mean/std (ImageNet's by default) if normalize.
        """
        _check_batch(x)
        draw_device = generator.device if generator is not None else torch.device("cpu")
        return self.apply_params(x, sample_params(self.spec, x.shape[0], generator, draw_device))

    def apply_params(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """`forward` with given draws (from `sample_params`), so tests can replay a sample op by op."""
        _check_batch(x)
        # Masks, orders and factors are read on the host: one small copy (a sync only if they were drawn
        # on an accelerator), after which nothing waits on the device.
        host = {k: v.cpu() for k, v in params.items()}
        img = _unit_float(x)
        for op in self.spec.colour:
            if isinstance(op, Jitter):
                img = _jitter(img, op, host)
            elif isinstance(op, Grayscale):
                img = _apply_where(img, host["grayscale_apply"], _grayscale)
            elif isinstance(op, Blur):
                img = _apply_where(img, host["blur_apply"], _blur, host["blur_sigma"])
            elif isinstance(op, Solarize):
                img = _apply_where(img, host["solarize_apply"], _solarize(op.threshold))
            elif isinstance(op, TF_OPS):
                prefix = f"{type(op).__name__}_"
                mine = {k[len(prefix) :]: v for k, v in host.items() if k.startswith(prefix)}
                img = simclr.apply(op, img, mine)
        if self.normalize:
            img = _normalize_(img, self.spec.mean, self.spec.std)
        return img

    def extra_repr(self) -> str:
        return f"spec={self.spec!r}, normalize={self.normalize}"


def normalize_uint8(
    x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """(N,3,H,W) uint8 -> float32 normalised by mean/std, on x's device (when colour ran in the loader).

    Same arithmetic as torchvision's ToTensor + Normalize, so the two agree to the last bit.
    """
    if x.dtype != torch.uint8:
        raise TypeError(f"normalize_uint8 expects uint8, got {x.dtype}")
    _check_batch(x)
    return _normalize_(x.to(torch.float32).div_(255), mean, std)


def _check_spec(spec: ViewSpec) -> None:
    """Reject what the per-image path would reject, and repeated op types (params are keyed by type)."""
    kinds = [type(op).__name__ for op in spec.colour]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"each colour op may appear once in a spec, got {kinds}")
    for op in spec.colour:
        if not 0.0 <= op.p <= 1.0:
            raise ValueError(f"probability must be in [0, 1]: {op!r}")
        if isinstance(op, Jitter):
            if min(op.brightness, op.contrast, op.saturation) < 0 or not 0 <= op.hue <= 0.5:
                raise ValueError(f"jitter strengths must be >= 0 and hue in [0, 0.5] (torchvision): {op!r}")
        elif isinstance(op, Blur) and not 0 <= op.sigma[0] <= op.sigma[1]:
            raise ValueError(f"blur sigma range must satisfy 0 <= lo <= hi: {op!r}")


def _check_batch(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a (N, 3, H, W) batch, got shape {tuple(x.shape)}")


def _unit_float(x: torch.Tensor) -> torch.Tensor:
    """A float32 copy in [0, 1] that this module owns (later ops write into it)."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255)
    if not x.is_floating_point():
        raise TypeError(f"expected uint8 or floating-point images, got {x.dtype}")
    return x.to(torch.float32, copy=True)


def _normalize_(img: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """In-place normalisation (PAPER.md pre-training hyper-parameters: ImageNet's), as T.Normalize."""
    m = torch.tensor(mean, dtype=img.dtype).view(1, 3, 1, 1).to(img.device, non_blocking=True)
    s = torch.tensor(std, dtype=img.dtype).view(1, 3, 1, 1).to(img.device, non_blocking=True)
    return img.sub_(m).div_(s)


def _apply_where(
    img: torch.Tensor, mask: torch.Tensor, fn: Callable[..., torch.Tensor], *factors: torch.Tensor
) -> torch.Tensor:
    """`fn(img[mask], *factors[mask])` written back into `img`; `mask` and `factors` are on the host."""
    idx = mask.nonzero().squeeze(1)
    if idx.numel() == 0:
        return img
    if idx.numel() == img.shape[0]:
        return fn(img, *factors)
    dev_idx = idx.to(img.device, non_blocking=True)
    out = fn(img.index_select(0, dev_idx), *(f[idx] for f in factors))
    return img.index_copy_(0, dev_idx, out.to(img.dtype))


def _brightness(img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    # torchvision adjust_brightness: blend with black = multiply, clamp to [0, 1].
    return kornia.enhance.adjust_brightness_accumulative(img, factor)


def _contrast(img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    # torchvision adjust_contrast: blend with the mean luma of each image, clamp.
    return kornia.enhance.adjust_contrast_with_mean_subtraction(img, factor)


def _saturation(img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    # torchvision adjust_saturation: blend with the luma image, clamp.
    return kornia.enhance.adjust_saturation_with_gray_subtraction(img, factor)


def _hue(img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    # torchvision adjust_hue: hue += factor (turns) in HSV; kornia takes radians.
    return kornia.enhance.adjust_hue(img, factor * (2 * math.pi))


_JITTER_FNS = (_brightness, _contrast, _saturation, _hue)


def _jitter(img: torch.Tensor, op: Jitter, host: dict[str, torch.Tensor]) -> torch.Tensor:
    """ColorJitter with a per-sample op order: stage j runs op k on the samples whose order[j] is k."""
    applied, order = host["jitter_apply"], host["jitter_order"]
    # torchvision skips an op whose strength is 0 (its factor would be exactly neutral).
    active = [op.brightness > 0, op.contrast > 0, op.saturation > 0, op.hue > 0]
    factors = [host[f"jitter_{name}"] for name in JITTER_OPS]
    for stage in range(4):
        for k in range(4):
            if active[k]:
                img = _apply_where(img, applied & (order[:, stage] == k), _JITTER_FNS[k], factors[k])
    return img


def _grayscale(img: torch.Tensor) -> torch.Tensor:
    # torchvision RandomGrayscale keeps 3 channels: the luma copied to each (a real copy: later ops write).
    return kornia.color.rgb_to_grayscale(img).repeat(1, 3, 1, 1)


def _blur(img: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    # The kernels are built on the host from the host-side sigmas: no device sync.
    return blur_batch(img, pil_box_kernels(sigma))


def _solarize(threshold: float) -> Callable[[torch.Tensor], torch.Tensor]:
    def solarize(img: torch.Tensor) -> torch.Tensor:
        return kornia.enhance.solarize(img, float(threshold))

    return solarize

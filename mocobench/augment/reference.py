"""The official per-image (PIL) pipelines, built from the `ViewSpec`s: MoCo v1, aug+, SimCLR, linear protocol.

`view_transform` turns a spec into the torchvision `Compose` the official code writes by hand
(`main_moco.py`, `moco/loader.py`): RandomResizedCrop, the colour ops in the spec's order (an op with p < 1
wrapped in RandomApply, grayscale as RandomGrayscale), the flip where the official code has it
(`ViewSpec.flip_last`), ToTensor, Normalize. Every random draw uses torch's generator, so one
`torch.manual_seed` (and the DataLoader's per-worker seeding) makes a run reproducible.

`blur_sigma` is in pixels of the image being augmented: the paper's [0.1, 2.0] is for 224-px crops, and
the caller scales it for smaller images (`spec.blur_sigma_px`).

SimCLR's views have no torchvision/PIL original (its code is TensorFlow's): their reference is its crop
(`geometry.sample_crop_tf`, bicubic) and its float colour ops (`simclr.py`) on the PIL image made a tensor,
drawing from torch's generator like everything here. The SimCLR linear protocol's views likewise
(`simclr_train_transform`, `simclr_eval_transform`: data_util.py L29, L416-458@85e8552). `linear_views`
picks a linear protocol's pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image, ImageFilter
from torchvision import transforms as T

from mocobench.augment import simclr
from mocobench.augment.geometry import sample_crop_tf
from mocobench.augment.spec import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Blur,
    Grayscale,
    Jitter,
    Solarize,
    ViewSpec,
    view_spec,
)


def normalize(mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> T.Normalize:
    """The last step of every view: ImageNet's statistics unless the dataset has its own."""
    return T.Normalize(mean=list(mean), std=list(std))


class GaussianBlur:
    """PIL Gaussian blur with sigma drawn uniformly from `sigma` per call, as the official MoCo loader.

    PIL's `radius` is the Gaussian's standard deviation, so it takes sigma directly.
    """

    def __init__(self, sigma: Sequence[float] = (0.1, 2.0)) -> None:
        lo, hi = float(sigma[0]), float(sigma[1])
        if not 0 <= lo <= hi:
            raise ValueError(f"blur sigma range must satisfy 0 <= lo <= hi, got {tuple(sigma)}")
        self.sigma = (lo, hi)

    def __call__(self, img: Image.Image) -> Image.Image:
        # torch's generator (not `random`) so torch.manual_seed covers the whole pipeline.
        sigma = torch.empty(1).uniform_(self.sigma[0], self.sigma[1]).item()
        return img.filter(ImageFilter.GaussianBlur(radius=sigma))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sigma={self.sigma})"


class TwoCropsTransform:
    """Two independent draws of `base` on one image: [query, key] (MoCo's positive pair)."""

    def __init__(self, base: Callable[[Image.Image], torch.Tensor]) -> None:
        self.base = base

    def __call__(self, img: Image.Image) -> list[torch.Tensor]:
        return [self.base(img), self.base(img)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base!r})"


def _colour_transform(op: Jitter | Grayscale | Blur | Solarize) -> Callable:
    if isinstance(op, Grayscale):
        return T.RandomGrayscale(p=op.p)
    if isinstance(op, Jitter):
        jitter = T.ColorJitter(op.brightness, op.contrast, op.saturation, op.hue)
        return jitter if op.p == 1.0 else T.RandomApply([jitter], p=op.p)
    if isinstance(op, Blur):
        return T.RandomApply([GaussianBlur(op.sigma)], p=op.p)
    if isinstance(op, Solarize):  # PIL solarises pixels >= a level: the level of the fraction, rounded up
        return T.RandomSolarize(math.ceil(op.threshold * 255 - 1e-6), p=op.p)
    raise TypeError(f"unknown colour op {op!r}")


class SimCLRCrop:
    """SimCLR's crop: TensorFlow's box, resized bicubic without antialiasing; PIL in, float tensor out."""

    def __init__(self, size: int, scale: tuple[float, float], ratio: tuple[float, float]) -> None:
        self.size, self.scale, self.ratio = size, scale, ratio

    def __call__(self, img: Image.Image) -> torch.Tensor:
        rng = np.random.default_rng(int(torch.randint(0, 2**63 - 1, ()).item()))  # torch's generator
        top, left, h, w = sample_crop_tf(img.height, img.width, self.scale, self.ratio, rng)
        return _bicubic(TF.to_tensor(img.crop((left, top, left + w, top + h))), self.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, scale={self.scale}, ratio={self.ratio})"


class SimCLRColour:
    """SimCLR's colour ops (`simclr.py`) in order on a (3, H, W) float tensor, drawing from torch's RNG."""

    def __init__(self, ops: tuple) -> None:
        self.ops = ops

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(0)
        for op in self.ops:
            x = simclr.apply(op, x, simclr.draw(op, 1, torch.rand))
        return x[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ops!r})"


def _bicubic(x: torch.Tensor, size: int) -> torch.Tensor:
    """TensorFlow's `resize_bicubic` as SimCLR calls it: no antialiasing, clipped to [0, 1]."""
    y = F.interpolate(x.unsqueeze(0), (size, size), mode="bicubic", align_corners=False, antialias=False)
    return y[0].clamp(0.0, 1.0)


def view_transform(spec: ViewSpec) -> T.Compose:
    """One view of `spec` as the official code composes it, on a PIL image, ending ImageNet-normalised."""
    if spec.crop == "tensorflow" or spec.float_colour:  # SimCLR: crop, flip, colour, blur (data_util.py L431)
        crop = SimCLRCrop(spec.image_size, spec.crop_scale, spec.crop_ratio)
        flip = T.RandomHorizontalFlip(p=spec.flip_p)
        return T.Compose([crop, flip, SimCLRColour(spec.colour), normalize(spec.mean, spec.std)])
    flip = T.RandomHorizontalFlip(p=spec.flip_p)
    colour = [_colour_transform(op) for op in spec.colour]
    ops: list[Callable] = [T.RandomResizedCrop(spec.image_size, scale=spec.crop_scale, ratio=spec.crop_ratio)]
    ops += [*colour, flip] if spec.flip_last else [flip, *colour]
    return T.Compose([*ops, T.ToTensor(), normalize(spec.mean, spec.std)])


def moco_v1_transform(image_size: int) -> T.Compose:
    """MoCo v1 augmentation (PAPER.md; official `main_moco.py` without --aug-plus), same order."""
    return view_transform(view_spec("moco_v1", image_size))


def aug_plus_transform(image_size: int, blur_sigma: Sequence[float] = (0.1, 2.0)) -> T.Compose:
    """MoCo v2 "aug+" (PAPER.md; official --aug-plus): weaker hue, jitter applied with p 0.8, plus blur."""
    return view_transform(view_spec("aug_plus", image_size, blur_sigma))


def simclr_transform(image_size: int, blur_sigma: Sequence[float] = (0.1, 2.0)) -> T.Compose:
    """SimCLR's ImageNet augmentation (SimCLR appendix A, colour strength s = 1; PAPER.md Table 2 note).

    Wider crop scale (0.08-1) and stronger colour distortion (0.8, 0.8, 0.8, 0.2) than MoCo's aug+.
    """
    return view_transform(view_spec("simclr", image_size, blur_sigma))


def pretrain_transform(
    kind: str, image_size: int, blur_sigma: Sequence[float] = (0.1, 2.0)
) -> TwoCropsTransform:
    """Two-view pre-training transform by name: "moco_v1", "aug_plus" or "simclr"."""
    return TwoCropsTransform(view_transform(view_spec(kind, image_size, blur_sigma)))


def supervised_train_transform(
    image_size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> T.Compose:
    """Standard ImageNet training recipe, also the linear protocol's train set (PAPER.md: crop + flip)."""
    return T.Compose(
        [
            T.RandomResizedCrop(image_size),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            normalize(mean, std),
        ]
    )


def eval_transform(
    image_size: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    native: bool = False,
) -> T.Compose:
    """Validation: short side to size * 256/224, centre crop (PAPER.md: Resize(256) + CenterCrop(224)).

    `native`: the images already have the crop's size (CIFAR at 32 px), and are used whole, as the official
    CIFAR-10 demo, solo-learn and lightly evaluate them (a 37-px resize and centre crop would cut the border).
    """
    resize = [] if native else [T.Resize(round(image_size * 256 / 224)), T.CenterCrop(image_size)]
    return T.Compose([*resize, T.ToTensor(), normalize(mean, std)])


SIMCLR_CROP_PROPORTION = 0.875  # simclr data_util.py L29@85e8552
# SimCLR scores whole images at a configured size of at most this: data.py L154-158@85e8552 turn test_crop
# off at FLAGS.image_size <= 32 (CIFAR), and preprocess_for_eval then only reshapes (data_util.py L454-456).
SIMCLR_WHOLE_IMAGE_MAX = 32


def simclr_train_transform(
    image_size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> T.Compose:
    """SimCLR's linear-evaluation training views: its crop and a flip, no colour (data.py L164: colour only
    when pre-training; blur likewise, model.py L55)."""
    crop = SimCLRCrop(image_size, (0.08, 1.0), (3 / 4, 4 / 3))
    return T.Compose([crop, T.RandomHorizontalFlip(), normalize(mean, std)])


class SimCLRCentreCrop:
    """SimCLR's `center_crop` (data_util.py L195-219): the central square of `proportion` of the shorter
    side, resized bicubic. A crop that already has the output size is returned as it is, as SimCLR's
    `tf.reshape` (L456) returns an image of that size when test_crop is off."""

    def __init__(self, size: int, proportion: float = SIMCLR_CROP_PROPORTION) -> None:
        self.size, self.proportion = size, proportion

    def __call__(self, img: Image.Image) -> torch.Tensor:
        side = round(self.proportion * min(img.width, img.height))
        top, left = (img.height - side + 1) // 2, (img.width - side + 1) // 2
        crop = TF.to_tensor(img.crop((left, top, left + side, top + side)))
        return crop if side == self.size else _bicubic(crop, self.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, proportion={self.proportion})"


def simclr_eval_transform(
    image_size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> T.Compose:
    """SimCLR's evaluation view, keyed on the configured `image_size` as SimCLR keys it on FLAGS.image_size:
    above 32 px the centre crop of 0.875, bicubic (data_util.py L455); at 32 px or less the whole image.

    Normalised like every view here (our SimCLR encoders are pre-trained on normalised views; SimCLR feeds
    [0, 1] images, data_util.py L477). At <= 32 px SimCLR requires images of exactly `image_size` (its
    reshape fails otherwise); ours of another size are resized whole, bicubic: the central square of the
    full shorter side, as no crop means.
    """
    whole = image_size <= SIMCLR_WHOLE_IMAGE_MAX
    crop = SimCLRCentreCrop(image_size, 1.0 if whole else SIMCLR_CROP_PROPORTION)
    return T.Compose([crop, normalize(mean, std)])


def linear_views(
    views: str,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    native_size: int | None = None,
) -> tuple[Callable[[Image.Image], torch.Tensor], Callable[[Image.Image], torch.Tensor]]:
    """A linear protocol's (training, validation) views (`config/linear.py` VIEWS), normalised by mean/std.

    "moco": `main_lincls.py`'s RandomResizedCrop + flip and Resize + CenterCrop, except that images whose
    format fixes their side at `image_size` (`native_size`: CIFAR at 32 px) are scored whole, as the MoCo
    CIFAR-10 demo and solo-learn do. "simclr": SimCLR's crop + flip, and its evaluation view, which depends
    on the configured size only (`simclr_eval_transform`).
    """
    if views == "simclr":
        return simclr_train_transform(image_size, mean, std), simclr_eval_transform(image_size, mean, std)
    native = native_size == image_size
    return supervised_train_transform(image_size, mean, std), eval_transform(image_size, mean, std, native)

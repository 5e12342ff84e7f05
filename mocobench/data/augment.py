"""Per-image (PIL) augmentation pipelines of MoCo v1, MoCo v2 ("aug+"), SimCLR and the linear protocol.

Orders and strengths follow PAPER.md and the official MoCo `main_moco.py` / `moco/loader.py`; SimCLR's
follows its paper (appendix A) and public code. Every random draw uses torch's generator, so one
`torch.manual_seed` (and the DataLoader's per-worker seeding) makes a run reproducible.

`blur_sigma` is in pixels of the image being augmented: the paper's [0.1, 2.0] is for 224-px crops, and
the caller (config) scales it for smaller images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image, ImageFilter
from torchvision import transforms as T

# PAPER.md "Pre-training hyper-parameters": ImageNet mean/std.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZE = T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)

PRETRAIN_KINDS = ("moco_v1", "aug_plus", "simclr")


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


def moco_v1_transform(image_size: int) -> T.Compose:
    """MoCo v1 augmentation (PAPER.md; official `main_moco.py` without --aug-plus), same order."""
    return T.Compose(
        [
            T.RandomResizedCrop(image_size, scale=(0.2, 1.0)),
            T.RandomGrayscale(p=0.2),
            T.ColorJitter(0.4, 0.4, 0.4, 0.4),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            NORMALIZE,
        ]
    )


def aug_plus_transform(image_size: int, blur_sigma: Sequence[float] = (0.1, 2.0)) -> T.Compose:
    """MoCo v2 "aug+" (PAPER.md; official --aug-plus): weaker hue, jitter applied with p 0.8, plus blur."""
    return T.Compose(
        [
            T.RandomResizedCrop(image_size, scale=(0.2, 1.0)),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
            T.RandomApply([GaussianBlur(blur_sigma)], p=0.5),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            NORMALIZE,
        ]
    )


def simclr_transform(image_size: int, blur_sigma: Sequence[float] = (0.1, 2.0)) -> T.Compose:
    """SimCLR's ImageNet augmentation (SimCLR appendix A, colour strength s = 1; PAPER.md Table 2 note).

    Wider crop scale (0.08-1) and stronger colour distortion (0.8, 0.8, 0.8, 0.2) than MoCo's aug+.
    """
    return T.Compose(
        [
            T.RandomResizedCrop(image_size, scale=(0.08, 1.0)),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
            T.RandomGrayscale(p=0.2),
            T.RandomApply([GaussianBlur(blur_sigma)], p=0.5),
            T.ToTensor(),
            NORMALIZE,
        ]
    )


def pretrain_transform(
    kind: str, image_size: int, blur_sigma: Sequence[float] = (0.1, 2.0)
) -> TwoCropsTransform:
    """Two-view pre-training transform by name: "moco_v1", "aug_plus" or "simclr"."""
    if kind == "moco_v1":
        base = moco_v1_transform(image_size)
    elif kind == "aug_plus":
        base = aug_plus_transform(image_size, blur_sigma)
    elif kind == "simclr":
        base = simclr_transform(image_size, blur_sigma)
    else:
        raise ValueError(f"unknown augmentation {kind!r}; valid: {', '.join(PRETRAIN_KINDS)}")
    return TwoCropsTransform(base)


def supervised_train_transform(image_size: int) -> T.Compose:
    """Standard ImageNet training recipe, also the linear protocol's train set (PAPER.md: crop + flip)."""
    return T.Compose(
        [
            T.RandomResizedCrop(image_size),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            NORMALIZE,
        ]
    )


def eval_transform(image_size: int) -> T.Compose:
    """Validation: short side to size * 256/224, centre crop (PAPER.md: Resize(256) + CenterCrop(224))."""
    return T.Compose(
        [
            T.Resize(round(image_size * 256 / 224)),
            T.CenterCrop(image_size),
            T.ToTensor(),
            NORMALIZE,
        ]
    )

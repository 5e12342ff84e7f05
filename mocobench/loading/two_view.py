"""Two views per image from an ImageNet-layout folder for pre-training: decode once, crop twice.

The official loader (`reference.TwoCropsTransform` over torchvision `ImageFolder`, as official MoCo's
`moco/loader.py` TwoCropsTransform: two independent draws of one augmentation give the query and the key)
decodes a JPEG and runs the whole PIL pipeline twice per image. Here each image is decoded once
(`data.decode`), two independent RandomResizedCrop + flip views are cut from it (`augment.geometry`:
antialiased bilinear resize in uint8, the same filter as PIL's), and the colour ops of the `ViewSpec` run
in uint8 in the loader worker (`augment.cpu_colour`) or, with `colour_in_workers=False`, later on the
training device.

A view's distribution equals the reference's: the crop parameters use torchvision's algorithm, the flip
is drawn per view and moved ahead of the colour ops (they commute, see `augment.spec`), and the two views
draw independently. Draws come from a numpy Generator seeded by `seeds.sample_seed(seed, epoch, index)`,
both views' geometry first, so a resumed run sees the same crops and the geometry-only mode cuts exactly
the crops the colour mode does.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mocobench.augment.cpu_colour import apply_colour
from mocobench.augment.geometry import crop_resize_flip, resize_planar, sample_box
from mocobench.augment.spec import ViewSpec
from mocobench.data.decode import decode
from mocobench.runtime.seeds import sample_seed


def worker_init(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: one thread per worker for cv2 and torch (the workers are the parallelism;
    nested thread pools only oversubscribe the cores)."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


class TwoViewFolder(Dataset):
    """Images of one split as `(views, label)`: `views` uint8 (2, 3, S, S), view 0 the query, 1 the key.

    Keys are `(epoch, index)` from `order.GlobalBatchSampler` (draws seeded by `sample_seed`), or a plain
    index, which draws a seed from torch's ambient generator (seeded per worker by the DataLoader).
    With `colour_in_workers=False` the views are geometry only (crop + flip) and the spec's colour ops are
    left to the training device.
    """

    def __init__(
        self,
        samples: list[tuple[Path, int]],
        classes: list[str],
        spec: ViewSpec,
        colour_in_workers: bool,
        seed: int = 0,
    ):
        self.samples, self.classes, self.spec = samples, classes, spec
        self.colour_in_workers, self.seed = colour_in_workers, seed

    def __len__(self) -> int:
        return len(self.samples)

    def rng(self, key: int | tuple[int, int]) -> tuple[int, np.random.Generator]:
        """The sample index and its generator for a dataset key."""
        if isinstance(key, tuple):
            epoch, index = key
            s = sample_seed(self.seed, epoch, index)
        else:
            index = int(key)
            s = int(torch.randint(0, 2**63 - 1, ()).item())
        return index, np.random.default_rng(s)

    def geometry(
        self, rng: np.random.Generator, height: int, width: int
    ) -> list[tuple[tuple[int, int, int, int], bool]]:
        """The two views' (box, flip), independent draws from `rng` (query first)."""
        spec = self.spec
        out = []
        for _ in range(2):
            box = sample_box(spec.crop, height, width, spec.crop_scale, spec.crop_ratio, rng)
            out.append((box, bool(rng.random() < spec.flip_p)))
        return out

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, rng = self.rng(key)
        path, label = self.samples[index]
        img = decode(path)
        size = self.spec.image_size
        views = torch.empty((2, 3, size, size), dtype=torch.uint8)
        out = views.numpy()
        # Both views' geometry is drawn before any colour, so it does not depend on where colour runs.
        for k, (box, flip) in enumerate(self.geometry(rng, img.shape[0], img.shape[1])):
            if self.colour_in_workers:
                view = crop_resize_flip(img, box, size, flip, self.spec.resize)
                view = apply_colour(view, self.spec.colour, rng)
                cv2.split(view, mv=[out[k, 0], out[k, 1], out[k, 2]])  # HWC -> CHW into the batch
            else:
                planes = resize_planar(img, box, size, self.spec.resize)
                out[k] = planes[:, :, ::-1] if flip else planes
        return views, label

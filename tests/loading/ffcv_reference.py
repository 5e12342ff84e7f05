"""Reference FFCV loaders for the tests: FFCV's stock two-decode path, and colour after the FFCV thread.

They plug into `TwoViewFFCV` where it allows (`_image_pipelines`, `_views`) or wrap its iterator, so the
product keeps one path (decode once, colour inside FFCV's pipeline) and the tests compare it with these.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from mocobench.loading.ffcv_loader import TwoViewFFCV


class TwiceDecodedFFCV(TwoViewFFCV):
    """FFCV's stock pipelines: two on the image field, each decoding, cropping and flipping (unseeded)."""

    def _image_pipelines(self, ColourOp: type | None) -> dict[str, Any]:
        from ffcv.fields.rgb_image import RandomResizedCropRGBImageDecoder
        from ffcv.pipeline import PipelineSpec
        from ffcv.transforms import RandomHorizontalFlip

        spec, size = self.spec, self.spec.image_size
        pipelines: dict[str, Any] = {"image": None}  # FFCV's default pipeline is replaced by the two below
        for v in (0, 1):
            ops = [RandomHorizontalFlip(spec.flip_p)] + ([ColourOp(self, (v,))] if ColourOp else [])
            decoder = RandomResizedCropRGBImageDecoder((size, size), spec.crop_scale, spec.crop_ratio)
            pipelines[f"view{v}"] = PipelineSpec("image", decoder=decoder, transforms=ops)
        return pipelines

    def _views(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return np.stack([batch["view0"], batch["view1"]], axis=1)


class ColourAfterFFCV(TwoViewFFCV):
    """Geometry in FFCV's pipeline, colour on each yielded batch in the consuming thread."""

    def __init__(self, *args: Any, colour_in_loader: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, colour_in_loader=False, **kwargs)
        from mocobench.augment.cpu_colour import apply_colour

        self._apply_colour = apply_colour

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, order = self.epoch, self.order(self.epoch)
        for b, (views, labels) in enumerate(super().__iter__()):
            idx = order[b * self.batch_size : b * self.batch_size + len(views)]
            array = views.permute(0, 1, 3, 4, 2).numpy()  # FFCV's own (B, 2, S, S, 3) buffer
            self.colour_batch(array, array, idx, (0, 1), epoch)
            yield views, labels

"""Loader selection and the batch -> (im_q, im_k) hand-over, for every loader and colour placement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mocobench.config.recipes import resolve
from mocobench.config.settings import RunConfig
from mocobench.data.folder import list_train_val
from mocobench.errors import UsageError
from mocobench.loading import loaders
from mocobench.runtime.distributed import DistInfo
from mocobench.runtime.step_options import StepOptions
from mocobench.train.data import two_view_spec

CPU = torch.device("cpu")
DIST = DistInfo(0, 1, 0, CPU, None)


def config(**over: object) -> RunConfig:
    base = resolve("mlp+aug+cos", "smoke", ["image_size=16", "batch_size=8", "workers=0", "moco_k=64"])
    return base.replace(**over)


def loader(tiny_data, kind: str, augment_on: str = "auto", **over: object) -> loaders.TwoViewLoader:
    samples, _, classes = list_train_val(tiny_data)
    return loaders.build_two_view_loader(
        two_view_spec(config(**over)), tiny_data, samples, classes, 0, DIST, StepOptions(), kind, augment_on
    )


@pytest.mark.parametrize(
    "kind, augment_on",
    [("pil", "auto"), ("torch", "loader"), ("torch", "device"), ("ffcv", "loader"), ("ffcv", "device")],
)
def test_every_loader_gives_normalised_pairs(tiny_data, kind: str, augment_on: str) -> None:
    if kind == "ffcv":
        pytest.importorskip("ffcv")
    pl = loader(tiny_data, kind, augment_on)
    assert pl.kind == kind and pl.augment_on == ("loader" if kind == "pil" else augment_on)
    assert len(pl) == 40 // 8
    pl.set_epoch(0)
    images, labels = next(iter(pl))
    q, k = pl.to_pairs(images, 123)
    assert q.shape == k.shape == (8, 3, 16, 16) and q.dtype == torch.float32
    assert labels.shape == (8,)
    assert not torch.equal(q, k)  # two independent views
    assert -3 < float(q.mean()) < 3 and float(q.std()) > 0.1  # ImageNet-normalised, not 0-255
    if augment_on == "device":  # the device draw follows the seed it is given
        again = pl.to_pairs(images, 123)[0]
        torch.testing.assert_close(q, again)
        assert not torch.equal(q, pl.to_pairs(images, 124)[0])


def test_auto_placement_and_errors(tiny_data, monkeypatch) -> None:
    assert loaders.resolve_augment_on("auto", CPU, "torch") == "loader"
    assert loaders.resolve_augment_on("auto", torch.device("cuda"), "ffcv") == "device"
    with pytest.raises(UsageError, match="--loader pil augments"):
        loaders.resolve_augment_on("device", CPU, "pil")
    with pytest.raises(UsageError, match="unknown --augment-on"):
        loaders.resolve_augment_on("gpu", CPU, "torch")
    with pytest.raises(UsageError, match="unknown --loader 'dali'"):
        loaders.resolve_kind("dali")
    assert loaders.resolve_kind("auto", "loader") == "torch"  # CPU: torch measured faster
    monkeypatch.setattr("mocobench.loading.ffcv_beton.ffcv_available", lambda: False)
    assert loaders.resolve_kind("auto", "device") == "torch"
    monkeypatch.setattr("mocobench.loading.ffcv_beton.ffcv_available", lambda: True)
    assert loaders.resolve_kind("auto", "device") == "ffcv"


def test_a_stale_beton_is_refused(tiny_data, tmp_path) -> None:
    pytest.importorskip("ffcv")
    samples, _, _ = list_train_val(tiny_data)
    beton = tmp_path / "train.beton"
    loaders.ffcv_beton_for(tiny_data, samples[:-8], beton, print)  # written for other images
    with pytest.raises(UsageError, match="does not match"):
        loaders.ffcv_beton_for(tiny_data, samples, beton, print)


def test_auto_on_a_gpu_cuts_the_official_views_at_32px(tiny_data) -> None:
    """`auto` with colour on the device (a GPU's default) picks FFCV. At 32 px (the `gpu` tier, CIFAR, the
    demo) every crop of tiny_data's 32-px images is enlarged, the case FFCV's stock INTER_AREA made blocky:
    its views must be the official ones, torchvision's bilinear `resized_crop` on the PIL image, exactly."""
    pytest.importorskip("ffcv")
    import torchvision.transforms.functional as TF
    from PIL import Image

    pl = loader(tiny_data, "auto", "device", image_size=32)
    assert pl.kind == "ffcv" and pl.augment_on == "device"
    samples, _, _ = list_train_val(tiny_data)
    pl.set_epoch(0)
    views = next(iter(pl))[0].permute(0, 1, 3, 4, 2).numpy()  # (B, 2, S, S, 3): geometry only
    order = pl.batches.order(0)[: len(views)].tolist()
    for pos, index in enumerate(order):
        image = Image.open(samples[index][0]).convert("RGB")
        for v, (top, left, h, w, flip) in enumerate(pl.batches.crop_boxes(index, 0)):
            want = TF.resized_crop(image, top, left, h, w, [32, 32], TF.InterpolationMode.BILINEAR)
            want = np.asarray(TF.hflip(want) if flip else want)
            diff = np.abs(views[pos, v].astype(int) - want)
            assert diff.max() == 0, (index, v, diff.mean())

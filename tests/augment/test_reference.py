"""Pins every parameter of the augmentation pipelines to PAPER.md / the official code, and checks outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from torchvision import transforms as T

from mocobench.augment import reference
from mocobench.augment.reference import (
    GaussianBlur,
    SimCLRColour,
    SimCLRCrop,
    TwoCropsTransform,
    aug_plus_transform,
    eval_transform,
    moco_v1_transform,
    pretrain_transform,
    simclr_transform,
    supervised_train_transform,
)

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
S = 32  # small crops keep the suite fast


def noise_image(size: int = 48, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")


def types(compose: T.Compose) -> list[type]:
    return [type(t) for t in compose.transforms]


def assert_crop(t: object, size: int, scale: tuple[float, float]) -> None:
    assert isinstance(t, T.RandomResizedCrop)
    assert t.size == (size, size)
    assert t.scale == pytest.approx(scale)
    assert t.ratio == pytest.approx((3 / 4, 4 / 3))


def assert_jitter(t: object, b: float, c: float, s: float, h: float) -> None:
    # torchvision stores brightness/contrast/saturation as (1 - x, 1 + x) and hue as (-h, h).
    assert isinstance(t, T.ColorJitter)
    assert t.brightness == pytest.approx((1 - b, 1 + b))
    assert t.contrast == pytest.approx((1 - c, 1 + c))
    assert t.saturation == pytest.approx((1 - s, 1 + s))
    assert t.hue == pytest.approx((-h, h))


def assert_normalize(t: object) -> None:
    assert isinstance(t, T.Normalize)
    assert tuple(t.mean) == pytest.approx(MEAN)
    assert tuple(t.std) == pytest.approx(STD)


def test_normalize_constants() -> None:
    assert_normalize(reference.normalize())


def test_cifar_demo_pipeline() -> None:
    """The official MoCo CIFAR-10 demo's train transform, op for op (PAPER.md "Small-scale reference")."""
    cifar = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
    c = reference.view_transform(reference.view_spec("cifar_demo", 32, mean=cifar[0], std=cifar[1]))
    assert types(c) == [
        T.RandomResizedCrop,
        T.RandomHorizontalFlip,
        T.RandomApply,
        T.RandomGrayscale,
        T.ToTensor,
        T.Normalize,
    ]
    crop, flip, jitter, gray, _, norm = c.transforms
    assert crop.size == (32, 32) and crop.scale == (0.08, 1.0) and flip.p == 0.5
    cj = jitter.transforms[0]
    assert jitter.p == 0.8 and (cj.brightness, cj.contrast, cj.saturation) == ((0.6, 1.4),) * 3
    assert cj.hue == (-0.1, 0.1) and gray.p == 0.2
    assert tuple(norm.mean) == cifar[0] and tuple(norm.std) == cifar[1]


def test_eval_transform_native_size_uses_the_whole_image() -> None:
    """CIFAR at 32 px is scored on the whole image (the demo's test transform), others resized + cropped."""
    assert types(eval_transform(32, native=True)) == [T.ToTensor, T.Normalize]
    assert types(eval_transform(32)) == [T.Resize, T.CenterCrop, T.ToTensor, T.Normalize]


def test_moco_v1_pipeline() -> None:
    c = moco_v1_transform(224)
    assert types(c) == [
        T.RandomResizedCrop,
        T.RandomGrayscale,
        T.ColorJitter,
        T.RandomHorizontalFlip,
        T.ToTensor,
        T.Normalize,
    ]
    crop, gray, jitter, flip, _, norm = c.transforms
    assert_crop(crop, 224, (0.2, 1.0))
    assert gray.p == pytest.approx(0.2)
    assert_jitter(jitter, 0.4, 0.4, 0.4, 0.4)
    assert flip.p == pytest.approx(0.5)
    assert_normalize(norm)


def test_aug_plus_pipeline() -> None:
    c = aug_plus_transform(224)
    assert types(c) == [
        T.RandomResizedCrop,
        T.RandomApply,
        T.RandomGrayscale,
        T.RandomApply,
        T.RandomHorizontalFlip,
        T.ToTensor,
        T.Normalize,
    ]
    crop, jitter_p, gray, blur_p, flip, _, norm = c.transforms
    assert_crop(crop, 224, (0.2, 1.0))
    assert jitter_p.p == pytest.approx(0.8)
    assert len(jitter_p.transforms) == 1
    assert_jitter(jitter_p.transforms[0], 0.4, 0.4, 0.4, 0.1)
    assert gray.p == pytest.approx(0.2)
    assert blur_p.p == pytest.approx(0.5)
    assert len(blur_p.transforms) == 1
    assert isinstance(blur_p.transforms[0], GaussianBlur)
    assert blur_p.transforms[0].sigma == pytest.approx((0.1, 2.0))
    assert flip.p == pytest.approx(0.5)
    assert_normalize(norm)


def test_simclr_pipeline() -> None:
    """SimCLR v1's own order (google-research/simclr@85e8552 data_util.py L431-438): crop (TensorFlow's box,
    area 0.08-1, aspect 3/4-4/3, L285-295) resized bicubic, flip, colour distortion, then blur; no PIL."""
    c = simclr_transform(224)
    assert types(c) == [SimCLRCrop, T.RandomHorizontalFlip, SimCLRColour, T.Normalize]
    crop, flip, colour, norm = c.transforms
    assert (crop.size, crop.scale, crop.ratio) == (224, (0.08, 1.0), (3 / 4, 4 / 3))
    assert flip.p == pytest.approx(0.5)
    jitter, gray, blur = colour.ops
    assert (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue, jitter.p) == (
        0.8,
        0.8,
        0.8,
        0.2,
        0.8,
    )
    assert gray.p == pytest.approx(0.2)
    assert (
        blur.p == pytest.approx(0.5) and blur.sigma == pytest.approx((0.1, 2.0)) and blur.kernel_frac == 0.1
    )
    assert_normalize(norm)


@pytest.mark.parametrize("kind", ["aug_plus"])  # SimCLR's blur: test_simclr_pipeline
def test_blur_sigma_is_passed_through(kind: str) -> None:
    two = pretrain_transform(kind, S, blur_sigma=(0.0143, 0.286))
    (blur_p,) = [t for t in two.base.transforms if isinstance(t, T.RandomApply) and t.p == 0.5]
    assert blur_p.transforms[0].sigma == pytest.approx((0.0143, 0.286))


def test_pretrain_transform_kinds() -> None:
    for kind, build in [
        ("moco_v1", moco_v1_transform),
        ("aug_plus", aug_plus_transform),
        ("simclr", simclr_transform),
    ]:
        two = pretrain_transform(kind, S)
        assert isinstance(two, TwoCropsTransform)
        assert repr(two.base) == repr(build(S))
    with pytest.raises(ValueError, match="moco_v1, aug_plus, simclr"):
        pretrain_transform("mocov2", S)


def test_supervised_train_pipeline() -> None:
    c = supervised_train_transform(224)
    assert types(c) == [T.RandomResizedCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize]
    assert_crop(c.transforms[0], 224, (0.08, 1.0))
    assert c.transforms[1].p == pytest.approx(0.5)
    assert_normalize(c.transforms[3])


@pytest.mark.parametrize(("size", "resize"), [(224, 256), (32, 37), (64, 73), (96, 110)])
def test_eval_pipeline(size: int, resize: int) -> None:
    c = eval_transform(size)
    assert types(c) == [T.Resize, T.CenterCrop, T.ToTensor, T.Normalize]
    assert c.transforms[0].size == resize  # int: resize the shorter side
    assert tuple(c.transforms[1].size) == (size, size)
    assert_normalize(c.transforms[3])
    out = c(Image.new("RGB", (2 * size, 3 * size)))
    assert out.shape == (3, size, size)


@pytest.mark.parametrize("kind", ["moco_v1", "aug_plus", "simclr"])
def test_two_crops_are_independent_draws(kind: str) -> None:
    torch.manual_seed(0)
    q, k = pretrain_transform(kind, S)(noise_image())
    assert q.shape == k.shape == (3, S, S)
    assert q.dtype == torch.float32
    assert not torch.equal(q, k)


@pytest.mark.parametrize("kind", ["moco_v1", "aug_plus", "simclr"])
def test_torch_seed_makes_pipeline_reproducible(kind: str) -> None:
    # Every draw (the blur's sigma too) comes from torch's generator.
    two, img = pretrain_transform(kind, S), noise_image()
    torch.manual_seed(3)
    a = [two(img) for _ in range(4)]
    torch.manual_seed(3)
    b = [two(img) for _ in range(4)]
    assert all(torch.equal(x, y) for pa, pb in zip(a, b, strict=True) for x, y in zip(pa, pb, strict=True))


def test_normalisation_statistics() -> None:
    mean_rgb = tuple(round(m * 255) for m in MEAN)
    out = eval_transform(S)(Image.new("RGB", (S, S), mean_rgb))
    assert out.abs().max() < 0.01  # the ImageNet mean maps to ~0
    white = eval_transform(S)(Image.new("RGB", (S, S), (255, 255, 255)))
    for ch in range(3):
        assert white[ch].mean().item() == pytest.approx((1 - MEAN[ch]) / STD[ch], abs=1e-4)
    torch.manual_seed(0)
    lo = torch.tensor([-m / s for m, s in zip(MEAN, STD, strict=True)]).view(3, 1, 1)
    hi = torch.tensor([(1 - m) / s for m, s in zip(MEAN, STD, strict=True)]).view(3, 1, 1)
    for kind in ["moco_v1", "aug_plus", "simclr"]:
        for view in pretrain_transform(kind, S)(noise_image()):
            assert (view >= lo - 1e-5).all() and (view <= hi + 1e-5).all()
            assert view.std() > 0.1


def high_freq_energy(img: Image.Image) -> float:
    a = np.asarray(img, dtype=np.float64)
    return float((np.diff(a, axis=0) ** 2).mean() + (np.diff(a, axis=1) ** 2).mean())


def test_gaussian_blur_blurs() -> None:
    img = noise_image(64)
    blurred = GaussianBlur((2.0, 2.0))(img)
    assert blurred.size == img.size and blurred.mode == "RGB"
    assert high_freq_energy(blurred) < 0.1 * high_freq_energy(img)
    # A fixed range reproduces PIL's own filter: radius is sigma.
    fixed = GaussianBlur((1.0, 1.0))(img)
    assert np.array_equal(np.asarray(fixed), np.asarray(img.filter(ImageFilter.GaussianBlur(radius=1.0))))


def test_gaussian_blur_sigma_uniform_in_range(monkeypatch: pytest.MonkeyPatch) -> None:
    radii: list[float] = []
    real = ImageFilter.GaussianBlur

    def record(radius: float) -> ImageFilter.GaussianBlur:
        radii.append(radius)
        return real(radius=radius)

    monkeypatch.setattr(reference.ImageFilter, "GaussianBlur", record)
    blur, img = GaussianBlur((0.1, 2.0)), Image.new("RGB", (4, 4))
    torch.manual_seed(0)
    for _ in range(300):
        blur(img)
    r = np.array(radii)
    assert len(r) == 300 and r.min() >= 0.1 and r.max() <= 2.0
    assert r.min() < 0.2 and r.max() > 1.9 and abs(r.mean() - 1.05) < 0.1
    with pytest.raises(ValueError):
        GaussianBlur((2.0, 0.1))


@pytest.mark.parametrize("build", [moco_v1_transform, aug_plus_transform])  # SimCLR's: test_simclr.py
def test_forced_grayscale_gives_equal_channels(build) -> None:
    c = build(S)
    (gray,) = [t for t in c.transforms if isinstance(t, T.RandomGrayscale)]
    gray.p = 1.0  # force the p = 0.2 branch; later jitter/blur/flip keep a grey image grey
    torch.manual_seed(0)
    out = c(noise_image())
    rgb = out * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
    assert torch.allclose(rgb[0], rgb[1], atol=1e-5) and torch.allclose(rgb[1], rgb[2], atol=1e-5)
    gray.p = 0.0  # control: colour survives without it
    torch.manual_seed(0)
    rgb = c(noise_image()) * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
    assert not torch.allclose(rgb[0], rgb[1], atol=1e-3)


def _normalised(x: torch.Tensor) -> torch.Tensor:
    return (x - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)


def _bicubic(x: torch.Tensor, size: int) -> torch.Tensor:  # TF's resize_bicubic, as SimCLR calls it
    y = torch.nn.functional.interpolate(x[None], (size, size), mode="bicubic", align_corners=False)
    return y[0].clamp(0, 1)


@pytest.mark.parametrize("size", [32, 16])
def test_simclr_eval_view_at_32_px_or_less_is_the_whole_image(size: int) -> None:
    """data.py L155-158@85e8552: test_crop is off when FLAGS.image_size <= 32; preprocess_for_eval then only
    reshapes (data_util.py L456). So the view of a 32-px image is that image, normalised as all our views."""
    img = noise_image(size, seed=1)
    out = reference.simclr_eval_transform(size, MEAN, STD)(img)
    torch.testing.assert_close(out, _normalised(T.functional.to_tensor(img)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [33, 224])
def test_simclr_eval_view_above_32_px_is_the_centre_crop_of_0875_resized_bicubic(size: int) -> None:
    """data_util.py L29 (CROP_PROPORTION 0.875) and L455 (center_crop, resize_bicubic at L217) above 32 px:
    even an image of exactly the configured size is cropped and upscaled, as SimCLR does at 224."""
    img = noise_image(size, seed=2)
    side = round(0.875 * size)
    top = (size - side + 1) // 2  # data_util.py L212-213
    crop = T.functional.to_tensor(img)[:, top : top + side, top : top + side]
    out = reference.simclr_eval_transform(size, MEAN, STD)(img)
    torch.testing.assert_close(out, _normalised(_bicubic(crop, size)), rtol=0, atol=1e-5)
    assert not torch.allclose(out, _normalised(T.functional.to_tensor(img)), atol=1e-2)


def test_simclr_eval_view_at_32_px_of_a_larger_image_is_the_whole_image_resized() -> None:
    """SimCLR's reshape would fail on a 64-px image at image_size 32; ours resizes the whole of it (no crop,
    as test_crop off means), bicubic as every SimCLR resize."""
    img = noise_image(64, seed=3)
    out = reference.simclr_eval_transform(32, MEAN, STD)(img)
    torch.testing.assert_close(out, _normalised(_bicubic(T.functional.to_tensor(img), 32)), rtol=0, atol=1e-5)


def test_linear_views_key_simclr_on_the_configured_size_and_moco_on_the_datas() -> None:
    img = noise_image(32, seed=4)
    whole = _normalised(T.functional.to_tensor(img))
    for native in (32, None):  # SimCLR: the data's native size plays no part (data.py L155 reads the flag)
        _, val = reference.linear_views("simclr", 32, MEAN, STD, native)
        torch.testing.assert_close(val(img), whole, rtol=0, atol=1e-6)
    _, moco_native = reference.linear_views("moco", 32, MEAN, STD, 32)  # CIFAR at 32 px: whole (unchanged)
    assert types(moco_native) == [T.ToTensor, T.Normalize]
    train, moco_folder = reference.linear_views("moco", 32, MEAN, STD, None)  # Resize(37) + CenterCrop(32)
    assert types(moco_folder) == [T.Resize, T.CenterCrop, T.ToTensor, T.Normalize]
    assert types(train) == [T.RandomResizedCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize]
    simclr_train, _ = reference.linear_views("simclr", 32, MEAN, STD)
    assert [type(t) for t in simclr_train.transforms] == [SimCLRCrop, T.RandomHorizontalFlip, T.Normalize]

"""DeviceAugment (kornia, batched, per-sample) vs torchvision's ops, its own draws, and the PIL reference.

Four layers: each kornia op equals torchvision's tensor op for the same factor; `sample_params` has the
right distribution (applied fractions, uniform factors, 24 equally likely jitter orders, independence); a
whole batch replays op by op through torchvision in each sample's drawn order; and the output distribution
for a fixed image matches the official per-image PIL pipeline (`reference.py` minus crop/flip), closely enough
that a wrong probability or range in the spec is caught by the same comparison.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as F
from PIL import Image, ImageFilter
from torchvision import transforms as T

from mocobench.augment import reference
from mocobench.augment.blur import blur_batch, pil_box_kernels
from mocobench.augment.device import (
    JITTER_OPS,
    DeviceAugment,
    normalize_uint8,
    sample_params,
)
from mocobench.augment.spec import Blur, Grayscale, Jitter, Solarize, ViewSpec, view_spec

S = 16  # small views keep the suite fast
KINDS = ("moco_v1", "aug_plus", "simclr")
TORCHVISION_KINDS = ("moco_v1", "aug_plus")  # SimCLR's ops are TensorFlow's: tests/augment/test_simclr.py
MEAN = torch.tensor(reference.IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(reference.IMAGENET_STD).view(1, 3, 1, 1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def uint8_images(n: int, size: int = S, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=gen(seed))


def float_images(n: int, size: int = S, seed: int = 0) -> torch.Tensor:
    return uint8_images(n, size, seed).float() / 255


# --------------------------------------------------------------------------------------------------------
# 1. Each op equals torchvision's tensor op (transforms.v2.functional) for the same factor.
# --------------------------------------------------------------------------------------------------------

# kornia's luma is 0.299 R + 0.587 G + 0.114 B (PIL's convert("L")); torchvision's tensor ops weight R by
# 0.2989, so grayscale, and contrast/saturation (which blend with it), differ by up to 1e-4 of full scale.
LUMA_TOL = 2e-4


def per_sample(fn: Callable[..., torch.Tensor], x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    return torch.stack([fn(x[i], float(factors[i])) for i in range(len(x))])


@pytest.mark.parametrize(
    ("name", "tv_fn", "factors", "atol"),
    [
        ("brightness", F.adjust_brightness, [0.0, 0.2, 0.6, 1.0, 1.4, 1.8, 0.9, 1.1], 1e-6),
        ("contrast", F.adjust_contrast, [0.0, 0.2, 0.6, 1.0, 1.4, 1.8, 0.9, 1.1], LUMA_TOL),
        ("saturation", F.adjust_saturation, [0.0, 0.2, 0.6, 1.0, 1.4, 1.8, 0.9, 1.1], LUMA_TOL),
        # HSV round trip in float32 both ways; measured max difference ~1e-6.
        ("hue", F.adjust_hue, [-0.5, -0.4, -0.1, 0.0, 0.05, 0.1, 0.2, 0.5], 1e-5),
    ],
)
def test_jitter_ops_match_torchvision(name: str, tv_fn: Callable, factors: list[float], atol: float) -> None:
    x = float_images(len(factors), seed=1)
    f = torch.tensor(factors)
    spec = view_spec("aug_plus", S)
    params = sample_params(spec, len(x), gen(0), "cpu")
    # Apply exactly one op to every sample: that op first, the other three neutral.
    params["jitter_apply"][:] = True
    params["jitter_order"][:] = torch.tensor(
        [JITTER_OPS.index(name), *(k for k in range(4) if JITTER_OPS[k] != name)]
    )
    for other in JITTER_OPS:
        params[f"jitter_{other}"][:] = 0.0 if other == "hue" else 1.0
    params[f"jitter_{name}"] = f
    only_jitter = dataclasses.replace(spec, colour=(spec.colour[0],))
    out = DeviceAugment(only_jitter, normalize=False).apply_params(x, params)
    torch.testing.assert_close(out, per_sample(tv_fn, x, f), atol=atol, rtol=0)


def one_op_spec(op: object) -> ViewSpec:
    return dataclasses.replace(view_spec("aug_plus", S), colour=(op,))


def test_grayscale_matches_torchvision_and_pil() -> None:
    x = uint8_images(6, seed=2)
    out = DeviceAugment(one_op_spec(Grayscale(1.0)), normalize=False)(x, gen(0))
    torch.testing.assert_close(out, F.rgb_to_grayscale(x.float() / 255, 3), atol=LUMA_TOL, rtol=0)
    # PIL (the reference path) rounds 0.299 R + 0.587 G + 0.114 B to uint8: within half a level.
    pil = torch.stack([F.pil_to_tensor(F.to_pil_image(img).convert("L").convert("RGB")) for img in x])
    assert (out * 255 - pil.float()).abs().max() <= 0.5 + 1e-3


def test_blur_matches_pil_per_sample_sigma() -> None:
    """Each sample blurred with its own sigma equals PIL's GaussianBlur (the official MoCo blur) to within
    PIL's uint8 rounding between its passes, edges included."""
    x = uint8_images(6, size=40, seed=3)
    spec = one_op_spec(Blur((0.1, 2.0), p=1.0))
    params = sample_params(spec, len(x), gen(0), "cpu")
    params["blur_sigma"] = torch.tensor([0.1, 0.3, 0.7, 1.0, 1.6, 2.0])
    out = DeviceAugment(spec, normalize=False).apply_params(x, params) * 255
    pil = torch.stack(
        [
            F.pil_to_tensor(F.to_pil_image(img).filter(ImageFilter.GaussianBlur(float(s))))
            for img, s in zip(x, params["blur_sigma"], strict=True)
        ]
    ).float()
    assert (out - pil).abs().max() <= 3.0
    assert (out - pil).abs().mean() <= 1.0


def test_blur_keeps_blurring_at_small_sigma_as_pil_does() -> None:
    """A sampled Gaussian (kornia's gaussian_blur2d, torchvision) is the identity below ~0.3 px; PIL's
    variance-matched box, and so ours, still blurs: the sigma range scaled to 32-px views lives there."""
    x = uint8_images(4, size=40, seed=4)
    grad = lambda y: (y[..., 1:] - y[..., :-1]).abs().mean()  # noqa: E731
    for sigma in (0.05, 0.2, 0.3):
        ours = DeviceAugment(one_op_spec(Blur((sigma, sigma), p=1.0)), normalize=False)(x, gen(0))
        pil = (
            torch.stack(
                [F.pil_to_tensor(F.to_pil_image(i).filter(ImageFilter.GaussianBlur(sigma))) for i in x]
            ).float()
            / 255
        )
        assert abs(grad(ours) - grad(pil)) < 0.02 * grad(pil), sigma
        if sigma >= 0.2:
            assert grad(ours) < 0.95 * grad(x.float() / 255), sigma  # it does blur


def test_solarize_matches_torchvision() -> None:
    x = float_images(4, seed=5)
    for threshold in (0.25, 0.5, 128 / 255):
        out = DeviceAugment(one_op_spec(Solarize(1.0, threshold)), normalize=False)(x, gen(0))
        torch.testing.assert_close(out, F.solarize(x, threshold), atol=0, rtol=0)
    # A fraction of full scale: 0.5 on uint8 inverts exactly the levels >= 128, as RandomSolarize(128).
    u = uint8_images(2, seed=6)
    out = DeviceAugment(one_op_spec(Solarize(1.0, 0.5)), normalize=False)(u, gen(0))
    torch.testing.assert_close(out, F.solarize(u, 128).float() / 255, atol=1e-6, rtol=0)


# --------------------------------------------------------------------------------------------------------
# A whole batch replays through torchvision, sample by sample, in each sample's drawn jitter order.
# --------------------------------------------------------------------------------------------------------

TV_JITTER = {
    "brightness": F.adjust_brightness,
    "contrast": F.adjust_contrast,
    "saturation": F.adjust_saturation,
    "hue": F.adjust_hue,
}


def replay(
    spec: ViewSpec, x: torch.Tensor, p: dict[str, torch.Tensor], fixed_order: bool = False
) -> torch.Tensor:
    """spec.colour on each image with torchvision's tensor ops and the drawn parameters, then Normalize."""
    out = []
    for i, img in enumerate(x):
        for op in spec.colour:
            if isinstance(op, Jitter) and p["jitter_apply"][i]:
                order = range(4) if fixed_order else p["jitter_order"][i].tolist()
                for k in order:
                    name = JITTER_OPS[k]
                    img = TV_JITTER[name](img, float(p[f"jitter_{name}"][i]))
            elif isinstance(op, Grayscale) and p["grayscale_apply"][i]:
                img = F.rgb_to_grayscale(img, 3)
            elif isinstance(op, Blur) and p["blur_apply"][i]:
                sigma = p["blur_sigma"][i : i + 1]
                img = blur_batch(img[None], pil_box_kernels(sigma))[0]  # == PIL's (tested above)
        out.append(F.normalize(img, list(reference.IMAGENET_MEAN), list(reference.IMAGENET_STD)))
    return torch.stack(out)


@pytest.mark.parametrize("kind", TORCHVISION_KINDS)
def test_batch_replays_through_torchvision_in_per_sample_order(kind: str) -> None:
    spec = view_spec(kind, S, blur_sigma=(0.1, 2.0))
    x = float_images(48, seed=7)
    params = sample_params(spec, len(x), gen(8), "cpu")
    out = DeviceAugment(spec).apply_params(x, params)
    # The luma-weight difference (1e-4 of full scale per op) compounds over ops and is divided by std; the
    # blur rounds to uint8 levels after each pass (as PIL), where such a difference can flip one level.
    diff = (out - replay(spec, x, params)).abs()
    one_level = 1 / 255 / min(reference.IMAGENET_STD) + 1e-4
    assert diff.max() <= one_level and (diff > 3e-3).float().mean() < 0.01
    # The comparison has power: one order for all samples (kornia ColorJitter's per-batch order) differs.
    assert (out - replay(spec, x, params, fixed_order=True)).abs().amax((1, 2, 3)).max() > 0.05


def test_forward_is_apply_params_of_sample_params() -> None:
    spec = view_spec("aug_plus", S)
    x = uint8_images(10)
    aug = DeviceAugment(spec)
    expected = aug.apply_params(x, sample_params(spec, len(x), gen(3), "cpu"))
    torch.testing.assert_close(aug(x, gen(3)), expected, atol=0, rtol=0)


# --------------------------------------------------------------------------------------------------------
# 2. Parameter statistics over many samples.
# --------------------------------------------------------------------------------------------------------

N = 20_000
# Binomial fractions within 4.5 standard errors; the KS statistic below its 0.1% critical value.
KS_CRIT = 1.95 / math.sqrt(N)
CORR_TOL = 4 / math.sqrt(N)


def assert_fraction(mask: torch.Tensor, p: float) -> None:
    assert mask.dtype == torch.bool and mask.shape == (N,)
    assert abs(mask.double().mean().item() - p) <= 4.5 * math.sqrt(p * (1 - p) / N) + 1e-12


def assert_uniform(v: torch.Tensor, lo: float, hi: float) -> None:
    """In [lo, hi] and uniform: max deviation of the empirical CDF from the uniform one (a KS statistic)."""
    assert v.shape == (N,)
    assert v.min() >= lo - 1e-6 and v.max() <= hi + 1e-6
    u = ((v.double() - lo) / (hi - lo)).sort().values
    i = torch.arange(1, N + 1, dtype=torch.float64)
    ks = torch.maximum(i / N - u, u - (i - 1) / N).max().item()
    assert ks < KS_CRIT, (lo, hi, ks)


def corr(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1].item()


@pytest.mark.parametrize("kind", TORCHVISION_KINDS)
def test_parameter_statistics(kind: str) -> None:
    spec = view_spec(kind, 224, blur_sigma=(0.1, 2.0))
    p = sample_params(spec, N, gen(11), "cpu")
    scalars = []
    for op in spec.colour:
        if isinstance(op, Jitter):
            assert_fraction(p["jitter_apply"], op.p)
            for name in JITTER_OPS[:3]:
                x = getattr(op, name)
                assert_uniform(p[f"jitter_{name}"], max(0.0, 1 - x), 1 + x)
            assert_uniform(p["jitter_hue"], -op.hue, op.hue)
            order = p["jitter_order"]
            assert order.shape == (N, 4) and order.dtype == torch.long
            assert (order.sort(dim=1).values == torch.arange(4)).all()  # each row a permutation
            # All 24 orders equally likely: chi-square (23 dof) below its 0.1% critical value 49.7.
            perms, counts = order.unique(dim=0, return_counts=True)
            assert len(perms) == 24
            assert ((counts.double() - N / 24) ** 2 / (N / 24)).sum() < 49.7
            scalars += [p[f"jitter_{name}"] for name in JITTER_OPS] + [order[:, 0].double()]
            scalars += [p["jitter_apply"]] if 0 < op.p < 1 else []
        elif isinstance(op, Grayscale):
            assert_fraction(p["grayscale_apply"], op.p)
            scalars.append(p["grayscale_apply"])
        elif isinstance(op, Blur):
            assert_fraction(p["blur_apply"], op.p)
            assert_uniform(p["blur_sigma"], *op.sigma)
            scalars += [p["blur_apply"], p["blur_sigma"]]
    # Independent across samples (adjacent samples uncorrelated) and across draws within a sample.
    for v in scalars:
        assert abs(corr(v[:-1], v[1:])) < CORR_TOL
    for a, b in itertools.combinations(scalars, 2):
        assert abs(corr(a, b)) < CORR_TOL


def test_sample_params_device_and_global_seed() -> None:
    spec = view_spec("aug_plus", S)
    torch.manual_seed(5)
    a = sample_params(spec, 7, None, "cpu")
    torch.manual_seed(5)
    b = sample_params(spec, 7, None, torch.device("cpu"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(v.device.type == "cpu" and v.shape[0] == 7 for v in a.values())


# --------------------------------------------------------------------------------------------------------
# 3. Output distribution for a fixed image vs the official per-image PIL pipeline.
# --------------------------------------------------------------------------------------------------------

M_REF = 1500  # PIL path, ~1 ms an image
M_DEV = 6000
Z = 4.5
# PIL's blend truncates to uint8 after each jitter op (about -0.5/255 each) and quantises: a small bias.
SYS = 0.003


def colourful_image(size: int = 24, seed: int = 0) -> np.ndarray:
    """Saturated reds-to-yellows (hue shifts move channel means) with pixel-level detail (blur shows)."""
    rng = np.random.default_rng(seed)
    hsv = np.stack(
        [
            rng.uniform(0, 0.3, (size, size)),
            rng.uniform(0.5, 1, (size, size)),
            rng.uniform(0.3, 1, (size, size)),
        ],
        -1,
    )
    return np.asarray(Image.fromarray((hsv * 255).round().astype(np.uint8), "HSV").convert("RGB"))


def reference_colour(spec: ViewSpec) -> T.Compose:
    """torchvision/PIL per-image colour transforms of `spec`, as reference.py builds them."""
    ts: list[object] = []
    for op in spec.colour:
        if isinstance(op, Jitter):
            jitter = T.ColorJitter(op.brightness, op.contrast, op.saturation, op.hue)
            ts.append(jitter if op.p == 1 else T.RandomApply([jitter], p=op.p))
        elif isinstance(op, Grayscale):
            ts.append(T.RandomGrayscale(p=op.p))
        elif isinstance(op, Blur):
            ts.append(T.RandomApply([reference.GaussianBlur(op.sigma)], p=op.p))
        else:
            raise NotImplementedError(op)
    return T.Compose(ts)


@pytest.mark.parametrize("kind", TORCHVISION_KINDS)
def test_reference_is_augment_py_minus_geometry(kind: str) -> None:
    sigma = (0.1 * S / 224, 2.0 * S / 224)
    official = {
        "moco_v1": lambda: reference.moco_v1_transform(S),
        "aug_plus": lambda: reference.aug_plus_transform(S, sigma),
    }[kind]()
    geometry_and_tensor = (T.RandomResizedCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize)
    colour = [repr(t) for t in official.transforms if not isinstance(t, geometry_and_tensor)]
    assert colour == [repr(t) for t in reference_colour(view_spec(kind, S, sigma)).transforms]


def quantities(y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image quantities (N, k) of images in [0, 1]."""
    return {
        "channel_mean": y.mean((2, 3)),
        "gray": ((y.amax(1) - y.amin(1)).amax((1, 2)) < 2e-3).double()[:, None],
        "spatial_std": y.std((2, 3)).mean(1, keepdim=True),
        "gradient": (y[..., 1:] - y[..., :-1]).abs().mean((1, 2, 3))[:, None],
    }


def mismatches(ref: dict[str, torch.Tensor], dev: dict[str, torch.Tensor]) -> list[str]:
    """Statistics that differ by more than Z standard errors (+ SYS for the means): each quantity's mean
    and its spread (the mean squared deviation from the pooled mean)."""
    bad = []
    for name in ref:
        a, b = ref[name].double(), dev[name].double()
        pooled = torch.cat([a, b]).mean(0)
        pairs = [(name, a, b, SYS)]
        if name != "gray":
            pairs.append((name + "_var", (a - pooled) ** 2, (b - pooled) ** 2, 0.0))
        for stat, qa, qb, sys in pairs:
            diff = (qa.mean(0) - qb.mean(0)).abs()
            se = (qa.var(0) / len(qa) + qb.var(0) / len(qb)).sqrt()
            if (diff > Z * se + sys).any():
                bad.append(stat)
    return bad


_REF_CACHE: dict[str, dict[str, torch.Tensor]] = {}


def reference_quantities(kind: str) -> dict[str, torch.Tensor]:
    if kind not in _REF_CACHE:
        pipeline = reference_colour(view_spec(kind, 24))
        pil = Image.fromarray(colourful_image())
        torch.manual_seed(0)  # the PIL path draws from torch's global generator
        ys = np.stack([np.asarray(pipeline(pil)) for _ in range(M_REF)])
        _REF_CACHE[kind] = quantities(torch.from_numpy(ys).permute(0, 3, 1, 2).float() / 255)
    return _REF_CACHE[kind]


def device_quantities(spec: ViewSpec) -> dict[str, torch.Tensor]:
    x = torch.from_numpy(colourful_image().copy()).permute(2, 0, 1).expand(M_DEV, -1, -1, -1)
    return quantities(DeviceAugment(spec, normalize=False)(x, gen(1)))


@pytest.mark.parametrize("kind", TORCHVISION_KINDS)
def test_distribution_matches_pil_reference(kind: str) -> None:
    # Blur sigma in pixels, unscaled, so that at 24 px the blur changes the image visibly.
    assert mismatches(reference_quantities(kind), device_quantities(view_spec(kind, 24))) == []


def _replace_op(spec: ViewSpec, kind: type, **changes: object) -> ViewSpec:
    colour = tuple(dataclasses.replace(op, **changes) if isinstance(op, kind) else op for op in spec.colour)
    return dataclasses.replace(spec, colour=colour)


@pytest.mark.parametrize(
    ("kind", "op", "changes", "caught_by"),
    [
        ("aug_plus", Grayscale, {"p": 0.3}, "gray"),
        ("aug_plus", Jitter, {"p": 0.5}, "channel_mean_var"),
        ("aug_plus", Jitter, {"hue": 0.2}, "channel_mean_var"),
        ("aug_plus", Blur, {"p": 0.3}, "gradient"),
        ("aug_plus", Blur, {"sigma": (0.05, 1.0)}, "gradient"),
        ("moco_v1", Jitter, {"brightness": 0.2}, "channel_mean_var"),
    ],
)
def test_distribution_comparison_catches_a_wrong_spec(
    kind: str, op: type, changes: dict, caught_by: str
) -> None:
    wrong = _replace_op(view_spec(kind, 24), op, **changes)
    assert caught_by in mismatches(reference_quantities(kind), device_quantities(wrong))


# --------------------------------------------------------------------------------------------------------
# 4. Reproducibility, input types and layouts, output contract, normalisation.
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_reproducible_and_seed_dependent(kind: str) -> None:
    aug = DeviceAugment(view_spec(kind, S))
    x = uint8_images(16)
    a, b, c = aug(x, gen(42)), aug(x, gen(42)), aug(x, gen(43))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    torch.manual_seed(7)
    d = aug(x)
    torch.manual_seed(7)
    assert torch.equal(d, aug(x))  # generator=None: the global seed covers it


def test_uint8_float_channels_last_agree_and_input_untouched() -> None:
    aug = DeviceAugment(view_spec("simclr", S, blur_sigma=(0.1, 2.0)))
    u = uint8_images(16)
    f = u.float() / 255
    f_before = f.clone()
    ref = aug(u, gen(9))
    torch.testing.assert_close(aug(f, gen(9)), ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(aug(f.double(), gen(9)), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        aug(u.contiguous(memory_format=torch.channels_last), gen(9)), ref, atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        aug(f.contiguous(memory_format=torch.channels_last), gen(9)), ref, atol=1e-5, rtol=0
    )
    assert torch.equal(f, f_before)


@pytest.mark.parametrize("kind", KINDS)
def test_output_contract(kind: str) -> None:
    spec = view_spec(kind, S)
    x = uint8_images(5)
    y = DeviceAugment(spec)(x, gen(0))
    assert y.shape == (5, 3, S, S) and y.dtype == torch.float32 and y.device == x.device
    raw = DeviceAugment(spec, normalize=False)(x, gen(0))
    assert raw.min() >= 0 and raw.max() <= 1
    torch.testing.assert_close(y, (raw - MEAN) / STD, atol=1e-6, rtol=0)
    assert DeviceAugment(spec)(x[:0], gen(0)).shape == (0, 3, S, S)


def test_normalize_uint8_matches_to_tensor_normalize() -> None:
    x = uint8_images(3, size=9)
    expected = torch.stack([reference.normalize()(T.ToTensor()(F.to_pil_image(img))) for img in x])
    out = normalize_uint8(x)
    assert out.dtype == torch.float32 and out.device == x.device
    torch.testing.assert_close(out, expected, atol=0, rtol=0)
    torch.testing.assert_close(normalize_uint8(x.contiguous(memory_format=torch.channels_last)), expected)
    with pytest.raises(TypeError):
        normalize_uint8(x.float())


def test_rejects_bad_inputs_and_specs() -> None:
    aug = DeviceAugment(view_spec("aug_plus", S))
    with pytest.raises(ValueError):
        aug(uint8_images(2)[:, :1])
    with pytest.raises(TypeError):
        aug(torch.zeros(2, 3, S, S, dtype=torch.int32))
    base = view_spec("aug_plus", S)
    for colour in [
        (Grayscale(0.2), Grayscale(0.3)),
        (Grayscale(1.5),),
        (Jitter(0.4, 0.4, 0.4, 0.6),),
        (Blur((2.0, 1.0)),),
    ]:
        with pytest.raises(ValueError):
            DeviceAugment(dataclasses.replace(base, colour=colour))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_input_with_cpu_or_cuda_generator() -> None:
    aug = DeviceAugment(view_spec("aug_plus", S, blur_sigma=(0.1, 2.0)))
    x = uint8_images(32)
    ref = aug(x, gen(4))
    out = aug(x.cuda(), gen(4))  # CPU generator: the same draws as on the CPU
    assert out.device == x.cuda().device and out.dtype == torch.float32
    torch.testing.assert_close(out.cpu(), ref, atol=1e-4, rtol=0)
    cuda_gen = lambda: torch.Generator(device="cuda").manual_seed(4)  # noqa: E731
    a, b = aug(x.cuda(), cuda_gen()), aug(x.cuda(), cuda_gen())
    assert a.device.type == "cuda" and torch.equal(a, b)
    torch.testing.assert_close(normalize_uint8(x.cuda()).cpu(), normalize_uint8(x))

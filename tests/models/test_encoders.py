"""The ResNet stems (the CIFAR stem keeps 4x4 maps after layer4 at 32 px under torchvision's names) and
initialisations (torchvision's, SimCLR's)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from mocobench.config.recipes import resolve
from mocobench.errors import UsageError
from mocobench.models.batchnorm import SplitBatchNorm2d
from mocobench.models.encoders import STEMS, TF_TRUNCATED_STD, Backbone, encoder_builder
from mocobench.run.build import build_model


def _layer4_map(net: nn.Module, size: int = 32) -> tuple[int, ...]:
    body = nn.Sequential(*[m for name, m in net.named_children() if name not in ("avgpool", "fc")])
    with torch.no_grad():
        return tuple(body.eval()(torch.zeros(2, 3, size, size)).shape[1:])


def test_the_cifar_stem_is_a_3x3_stride_1_conv_without_bias_or_max_pool():
    net = encoder_builder("resnet18", stem="cifar")(num_classes=10)
    conv = net.conv1
    assert (conv.kernel_size, conv.stride, conv.padding, conv.bias) == ((3, 3), (1, 1), (1, 1), None)
    assert conv.in_channels == 3 and conv.out_channels == 64
    assert isinstance(net.maxpool, nn.Identity)
    assert _layer4_map(net) == (512, 4, 4)


def test_the_imagenet_stem_is_torchvisions_and_leaves_1x1_at_32_px():
    net = encoder_builder("resnet18")(num_classes=10)
    assert net.conv1.kernel_size == (7, 7) and net.conv1.stride == (2, 2)
    assert isinstance(net.maxpool, nn.MaxPool2d)
    assert _layer4_map(net) == (512, 1, 1)
    assert encoder_builder("resnet18", stem="imagenet") is torchvision.models.resnet18


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_cifar_keys_are_torchvisions_and_load_strictly_into_a_torchvision_resnet_of_that_stem(arch: str):
    torch.manual_seed(0)
    ours = encoder_builder(arch, stem="cifar")(num_classes=10)
    with torch.device("meta"):
        plain = getattr(torchvision.models, arch)(num_classes=10)
    shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    ref = {k: tuple(v.shape) for k, v in plain.state_dict().items()}
    assert shapes.keys() == ref.keys()  # maxpool holds no tensors: no key appears or disappears
    assert {k for k in ref if shapes[k] != ref[k]} == {"conv1.weight"}
    assert shapes["conv1.weight"] == (64, 3, 3, 3)
    # The same stem written by hand on torchvision's model, as the official demo does.
    target = getattr(torchvision.models, arch)(num_classes=10)
    target.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    target.maxpool = nn.Identity()
    target.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(target.eval()(x), ours.eval()(x))


def test_split_batchnorm_works_with_the_cifar_stem():
    net = encoder_builder("resnet18", 4, "cifar")(num_classes=8)
    assert isinstance(net.bn1, SplitBatchNorm2d) and net.bn1.num_splits == 4
    assert net.conv1.kernel_size == (3, 3) and isinstance(net.maxpool, nn.Identity)
    out = Backbone(net.train())(torch.randn(8, 3, 32, 32))
    assert out.shape == (8, 512)


def test_an_unknown_stem_is_a_usage_error_naming_the_choices():
    with pytest.raises(UsageError, match="unknown stem 'tiny'; use one of imagenet, cifar"):
        encoder_builder("resnet18", stem="tiny")


def test_the_config_accepts_exactly_the_stems_the_builder_knows():
    for stem in STEMS:
        assert resolve("mlp+aug+cos", "smoke", [f"stem={stem}"]).method.stem == stem
    with pytest.raises(UsageError, match="stem must be one of imagenet, cifar"):
        resolve("mlp+aug+cos", "smoke", ["stem=tiny"])
    assert resolve("mlp+aug+cos", "smoke").method.stem == "imagenet"


@pytest.mark.parametrize("recipe", ["mlp+aug+cos", "end-to-end-b256", "simclr-b256", "supervised"])
def test_every_pre_training_model_takes_the_configs_stem(recipe: str):
    config = resolve(recipe, "smoke", ["arch=resnet18", "stem=cifar"])
    model = build_model(config, 10, 1)
    encoders = [m for m in model.modules() if isinstance(m, torchvision.models.ResNet)]
    assert encoders  # MoCo: both encoders; end-to-end and SimCLR: one; supervised: the model itself
    for enc in encoders:
        assert enc.conv1.kernel_size == (3, 3) and isinstance(enc.maxpool, nn.Identity)


def _bns(net: nn.Module) -> tuple[list[nn.BatchNorm2d], list[nn.BatchNorm2d]]:
    """(each residual block's last BN, every other BN)."""
    last = [
        b.bn3 if isinstance(b, Bottleneck) else b.bn2
        for b in net.modules()
        if isinstance(b, Bottleneck | BasicBlock)
    ]
    ids = {id(m) for m in last}
    return last, [m for m in net.modules() if isinstance(m, nn.BatchNorm2d) and id(m) not in ids]


@pytest.mark.parametrize(("arch", "stem"), [("resnet50", "imagenet"), ("resnet18", "cifar")])
def test_simclr_init_is_tf1_variance_scaling_fan_in_truncated_normal(arch: str, stem: str):
    """simclr resnet.py L276@85e8552: every conv (the stem's at L474-476 / L481-483, the projection
    shortcuts' at L310-312 / L361-363) draws from tf.variance_scaling_initializer(): TF 1.15's defaults are
    scale 1, fan_in, truncated_normal, i.e. std sqrt(1 / fan_in) after a cut at 2 std (std / 0.8796 before).
    torchvision's Kaiming fan-out (gain 2) or PyTorch's default conv init fail these bounds."""
    torch.manual_seed(0)
    net = encoder_builder(arch, stem=stem, init="simclr")(num_classes=1000)
    convs = {n: m for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}
    assert "conv1" in convs and any("downsample" in n for n in convs)
    for name, conv in convs.items():
        w = conv.weight.detach()
        fan_in = w.shape[1] * w.shape[2] * w.shape[3]
        std = (1.0 / fan_in) ** 0.5
        assert w.abs().max() <= 2 * std / TF_TRUNCATED_STD + 1e-6, name  # cut at 2 std of the draw
        if w.numel() >= 1000:  # std's relative sampling error below 2.5% (truncated normal, n >= 1000)
            assert w.std().item() == pytest.approx(std, rel=0.08), name
        if w.numel() >= 100_000:
            assert w.std().item() == pytest.approx(std, rel=0.02), name
    # TF's 0.87962566103423978: the std of a unit normal truncated to [-2, 2]
    z = torch.nn.init.trunc_normal_(torch.empty(1_000_000), 0.0, 1.0, -2.0, 2.0)
    assert z.std().item() == pytest.approx(TF_TRUNCATED_STD, rel=0.005)


def test_simclr_init_zeroes_each_blocks_last_bn_gamma_and_draws_fc_as_simclrs_dense():
    """resnet.py L324-325 and L389-390@85e8552 (init_zero=True -> gamma zeros, L106-107) for the last BN of
    every block; the other BNs (downsample included) gamma 1, beta 0 (L109). A plain fc is model_util.py
    L92-96's dense: kernel ~ N(0, 0.01), bias 0."""
    torch.manual_seed(0)
    for arch in ("resnet18", "resnet50"):
        net = encoder_builder(arch, init="simclr")(num_classes=1000)
        last, others = _bns(net)
        assert len(last) == (8 if arch == "resnet18" else 16)
        assert all(bool((m.weight == 0).all()) for m in last)
        assert any(".downsample." in n for n, m in net.named_modules() if m in others)
        assert all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in others)
    assert net.fc.weight.std().item() == pytest.approx(0.01, rel=0.02) and not net.fc.bias.any()
    plain = encoder_builder("resnet50")(num_classes=1000)  # torchvision's: gamma 1 everywhere
    assert all(bool((m.weight == 1).all()) for m in _bns(plain)[0])


def test_an_unknown_init_is_a_usage_error_naming_the_choices():
    with pytest.raises(UsageError, match="unknown init 'kaiming'; use one of torchvision, simclr"):
        encoder_builder("resnet18", init="kaiming")
    assert encoder_builder("resnet18", init="torchvision") is torchvision.models.resnet18


@pytest.mark.parametrize("recipe", ["simclr-b256", "simclr-b4096-1000ep", "simclr-b8192"])
def test_the_simclr_rows_build_simclrs_resnet_and_record_it(recipe: str):
    config = resolve(recipe, "smoke", ["arch=resnet18"])
    assert config.method.init == "simclr"
    torch.manual_seed(0)
    (enc,) = [m for m in build_model(config, 10, 1).modules() if isinstance(m, torchvision.models.ResNet)]
    last, _ = _bns(enc)
    assert all(bool((m.weight == 0).all()) for m in last)
    w = enc.layer4[1].conv2.weight
    assert w.std().item() == pytest.approx((1 / (512 * 9)) ** 0.5, rel=0.02)  # torchvision: sqrt(2) x this


@pytest.mark.parametrize("recipe", ["mlp+aug+cos", "end-to-end-b256", "supervised"])
def test_the_other_rows_keep_torchvisions_init(recipe: str):
    config = resolve(recipe, "smoke", ["arch=resnet18"])
    assert config.method.init == "torchvision"
    torch.manual_seed(0)
    for enc in [m for m in build_model(config, 10, 1).modules() if isinstance(m, torchvision.models.ResNet)]:
        assert all(bool((m.weight == 1).all()) for m in _bns(enc)[0])
        w = enc.layer4[1].conv2.weight  # Kaiming fan-out: sqrt(2 / (512 * 9))
        assert w.std().item() == pytest.approx((2 / (512 * 9)) ** 0.5, rel=0.02)

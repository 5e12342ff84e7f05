"""The ResNet stems: the CIFAR stem keeps 4x4 maps after layer4 at 32 px under torchvision's names."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from mocobench.config.recipes import resolve
from mocobench.errors import UsageError
from mocobench.models.batchnorm import SplitBatchNorm2d
from mocobench.models.encoders import STEMS, Backbone, encoder_builder
from mocobench.train.build import build_model


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
        assert resolve("mlp+aug+cos", "smoke", [f"stem={stem}"])["stem"] == stem
    with pytest.raises(UsageError, match="stem must be one of imagenet, cifar"):
        resolve("mlp+aug+cos", "smoke", ["stem=tiny"])
    assert resolve("mlp+aug+cos", "smoke")["stem"] == "imagenet"


@pytest.mark.parametrize("recipe", ["mlp+aug+cos", "end-to-end-b256", "simclr-b256", "supervised"])
def test_every_pre_training_model_takes_the_configs_stem(recipe: str):
    config = resolve(recipe, "smoke", ["arch=resnet18", "stem=cifar"])
    model = build_model(config, 10, 1)
    encoders = [m for m in model.modules() if isinstance(m, torchvision.models.ResNet)]
    assert encoders  # MoCo: both encoders; end-to-end and SimCLR: one; supervised: the model itself
    for enc in encoders:
        assert enc.conv1.kernel_size == (3, 3) and isinstance(enc.maxpool, nn.Identity)

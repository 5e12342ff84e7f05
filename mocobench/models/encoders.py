"""torchvision ResNets as contrastive encoders: the builder (stem, init), MoCo v2's and SimCLR's heads, the
backbone evaluated."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from mocobench.config.fields import ARCHS, INITS, STEMS
from mocobench.errors import UsageError
from mocobench.models.batchnorm import split_bn

STEM_KERNEL = {"imagenet": 7, "cifar": 3}  # conv1's kernel: what a state_dict tells of its stem


def encoder_builder(
    arch: str, bn_splits: int = 1, stem: str = "imagenet", init: str = "torchvision"
) -> Callable[..., nn.Module]:
    """`builder(num_classes=dim)` -> a fresh torchvision ResNet, with BatchNorm in `bn_splits` groups
    (single-process shuffle BN, MoCo sec. 3.3) when bn_splits > 1, the `stem` of STEMS, and the `init` of
    INITS: torchvision's own, or SimCLR's (`simclr_init_`), applied last so it covers the CIFAR stem's conv.

    "imagenet" is torchvision's 7x7 stride-2 conv1 + stride-2 max-pool (4x down before layer1). "cifar" is
    the official MoCo CIFAR-10 demo's (facebookresearch/moco colab/moco_cifar10_demo.ipynb, `ModelBase`):
    conv1 3x3 stride 1 padding 1 without bias, no max-pool, so 32 px images reach layer4 at 4x4, not 1x1.
    The names stay torchvision's (`conv1.weight`; `maxpool` becomes an nn.Identity, which holds no tensors),
    so a checkpoint loads strictly into a torchvision ResNet given the same stem, and only conv1's shape
    tells the stems apart (`STEM_KERNEL`): the max-pool always goes with the 3x3 conv, never on its own.
    """
    if arch not in ARCHS:
        raise UsageError(f"unknown arch {arch!r}; use one of {', '.join(ARCHS)}")
    if stem not in STEMS:
        raise UsageError(f"unknown stem {stem!r}; use one of {', '.join(STEMS)}")
    if init not in INITS:
        raise UsageError(f"unknown init {init!r}; use one of {', '.join(INITS)}")
    ctor = getattr(torchvision.models, arch)
    if bn_splits > 1:
        ctor = functools.partial(ctor, norm_layer=split_bn(bn_splits))
    if stem == "cifar":
        ctor = functools.partial(_with_cifar_stem, ctor)
    return functools.partial(_with_simclr_init, ctor) if init == "simclr" else ctor


def _with_cifar_stem(ctor: Callable[..., nn.Module], **kwargs) -> nn.Module:
    """`ctor(**kwargs)` with the CIFAR stem; the new conv1 keeps PyTorch's default init, as in the demo,
    which swaps it in after torchvision's init."""
    net = ctor(**kwargs)
    net.conv1 = nn.Conv2d(3, net.conv1.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


# std of a unit normal truncated to [-2, 2] (scipy.stats.truncnorm.std(-2, 2)): TF's variance scaling divides
# by it so that the truncated draw has the std it asks for (the constant of TF's init_ops.py VarianceScaling)
TF_TRUNCATED_STD = 0.87962566103423978


def simclr_init_(net: nn.Module) -> nn.Module:
    """SimCLR v1's ResNet initialisation, in place (google-research/simclr@85e8552, which pins
    tensorflow==1.15.2, requirements.txt L2).

    Every conv, the stem's and the projection shortcuts' included, is `conv2d_fixed_padding` (resnet.py
    L252-277, called at L310-312, L361-363, L474-476, L481-483) with `tf.variance_scaling_initializer()`
    (L276). TF 1.15's defaults are scale 1.0, mode fan_in, distribution truncated_normal: a normal cut at
    two standard deviations whose std after truncation is sqrt(scale / fan_in), so TF draws it with std
    sqrt(scale / fan_in) / 0.8796... (tensorflow.org/versions/r1.15/api_docs/python/tf/initializers/
    variance_scaling). TF's fan_in of a (kh, kw, in, out) kernel is kh * kw * in, torch's of (out, in, kh,
    kw) the same. torchvision's is Kaiming's fan_out with a gain of 2 instead: std sqrt(2 / fan_out).

    Every residual block's last BN starts with gamma 0 (`init_zero=True`, resnet.py L324-325 and L389-390,
    gamma_initializer zeros at L106-107), as torchvision's `zero_init_residual=True`; the other BNs gamma 1,
    beta 0 (L109, TF's default beta), as torchvision's. A plain `fc` is SimCLR's `linear_layer` (model_util.py
    L92-96): kernel ~ N(0, 0.01), bias 0 (TF's default); the heads replace it with their own
    (`attach_simclr_head`).
    """
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            std = math.sqrt(1.0 / m.weight[0].numel()) / TF_TRUNCATED_STD  # fan_in = in/groups * kh * kw
            nn.init.trunc_normal_(m.weight, 0.0, std, -2.0 * std, 2.0 * std)
        elif isinstance(m, Bottleneck | BasicBlock):
            nn.init.zeros_(m.bn3.weight if isinstance(m, Bottleneck) else m.bn2.weight)
    fc = getattr(net, "fc", None)
    if isinstance(fc, nn.Linear):
        nn.init.normal_(fc.weight, std=0.01)
        if fc.bias is not None:
            nn.init.zeros_(fc.bias)
    return net


def _with_simclr_init(ctor: Callable[..., nn.Module], **kwargs) -> nn.Module:
    return simclr_init_(ctor(**kwargs))


def attach_mlp_head(encoder: nn.Module) -> None:
    """Replace `encoder.fc` by fc(d, d) -> ReLU -> fc (MoCo v2's 2-layer MLP head, 2048-2048-ReLU-128).

    Keys become `fc.0.*` and `fc.2.*`, as in the official MoCo v2 checkpoints.
    """
    dim_mlp = encoder.fc.weight.shape[1]
    encoder.fc = nn.Sequential(nn.Linear(dim_mlp, dim_mlp), nn.ReLU(), encoder.fc)


def attach_simclr_head(encoder: nn.Module) -> None:
    """Replace `encoder.fc` by SimCLR v1's projection head (google-research/simclr@85e8552 model_util.py
    L112-120 with num_nlh_layers 1, run.py L193-203): Dense(d, d) -> BN -> ReLU -> Dense(d, dim) -> BN.

    Its dense layers have no bias (`use_bias and not use_bn`, L95), kernels ~ N(0, 0.01) (L96); the first
    BN has an offset, the last none (`center=use_bias`, L98), which is a zero bias kept frozen here.
    """
    d, dim = encoder.fc.weight.shape[1], encoder.fc.weight.shape[0]
    head = nn.Sequential(
        nn.Linear(d, d, bias=False),
        nn.BatchNorm1d(d),
        nn.ReLU(),
        nn.Linear(d, dim, bias=False),
        nn.BatchNorm1d(dim),
    )
    for layer in (head[0], head[3]):
        nn.init.normal_(layer.weight, std=0.01)
    head[4].bias.requires_grad_(False)
    encoder.fc = head


def query_encoder(model: nn.Module) -> nn.Module:
    """The encoder whose features we evaluate (MoCo: encoder_q, as the official linear protocol)."""
    model = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    for name in ("encoder_q", "encoder"):
        if hasattr(model, name):
            return getattr(model, name)
    return model


class Backbone(nn.Module):
    """A ResNet without its `fc` (shares the parameters): pooled features for kNN and linear evaluation."""

    def __init__(self, resnet: nn.Module):
        super().__init__()
        self.body = nn.Sequential(*[m for name, m in resnet.named_children() if name != "fc"], nn.Flatten(1))

    def forward(self, x):
        return self.body(x)

"""The ROI head of the MoCo detection setup: Res5ROIHeads with an extra norm layer after res5.

MoCo (Sec. 4.2 of the MoCo v1 paper; `Res5ROIHeadsExtraNorm` in the official detection/train_net.py)
appends a BN (of RESNETS.NORM, so synchronised across GPUs like the backbone) to the res5 stage that runs
per region, because the fine-tuned features' statistics differ from the pre-trained ones. Detectron2's
Res5ROIHeads always builds a bottleneck res5 (R50+); mini and smoke scales pre-train ResNet-18, so for
depth 18/34 res5 is built from basic blocks instead, matching the torchvision layer4 it is loaded from.
"""

from __future__ import annotations

from typing import Any

from detectron2.layers import get_norm
from detectron2.modeling.backbone.resnet import BasicBlock, ResNet
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, Res5ROIHeads
from torch import nn

BASIC_RES5_BLOCKS = {18: 2, 34: 3}  # torchvision layer4 depth of the basic-block ResNets


@ROI_HEADS_REGISTRY.register()
class Res5ROIHeadsExtraNorm(Res5ROIHeads):
    @classmethod
    def _build_res5_block(cls, cfg: Any) -> tuple[nn.Sequential, int]:
        depth = cfg.MODEL.RESNETS.DEPTH
        if depth in BASIC_RES5_BLOCKS:
            out_channels = cfg.MODEL.RESNETS.RES2_OUT_CHANNELS * 8
            blocks = ResNet.make_stage(
                BasicBlock,
                BASIC_RES5_BLOCKS[depth],
                stride_per_block=[2] + [1] * (BASIC_RES5_BLOCKS[depth] - 1),
                in_channels=out_channels // 2,
                out_channels=out_channels,
                norm=cfg.MODEL.RESNETS.NORM,
            )
            res5: nn.Sequential = nn.Sequential(*blocks)
        else:
            res5, out_channels = super()._build_res5_block(cfg)
        res5.add_module("norm", get_norm(cfg.MODEL.RESNETS.NORM, out_channels))
        return res5, out_channels

"""The Detectron2 config of one VOC fine-tuning: recipes/detection.yaml, shrunk by --scale, paths filled in.

What a scale may change, and to what, is `config/detection.py` (read without Detectron2); here those values
go into Detectron2's cfg, with the backbone's depth, the datasets, the weights and the seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mocobench.config.detection import SCALED, paper_config_path, scaled_protocol
from mocobench.errors import UsageError

DEPTHS = {"resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101, "resnet152": 152}


def paper_cfg() -> Any:
    """Detectron2's defaults with recipes/detection.yaml merged over them (registers our ROI head)."""
    from detectron2.config import get_cfg

    import mocobench.detection.heads  # noqa: F401  (registers Res5ROIHeadsExtraNorm)

    cfg = get_cfg()
    cfg.merge_from_file(str(paper_config_path()))
    return cfg


def apply_protocol(cfg: Any, protocol: dict[str, Any]) -> None:
    """Write the (scaled) values into a cfg."""
    for key, where in SCALED.items():
        node = cfg
        for part in where[:-1]:
            node = getattr(node, part)
        value = protocol[key]
        setattr(node, where[-1], tuple(value) if isinstance(value, list) else value)


def set_backbone(cfg: Any, arch: str) -> None:
    """Depth of the pre-trained ResNet; the basic-block ResNets have 64-channel res2 in Detectron2's terms."""
    if arch not in DEPTHS:
        raise UsageError(f"Detectron2's ResNet has no {arch!r}; detection needs one of {', '.join(DEPTHS)}")
    cfg.MODEL.RESNETS.DEPTH = DEPTHS[arch]
    if DEPTHS[arch] < 50:
        cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64


def build_cfg(
    scale: str,
    arch: str,
    weights: str,
    train: tuple[str, ...],
    test: str,
    num_classes: int,
    out_dir: Path,
    seed: int,
    device: str,
    world_size: int = 1,
) -> Any:
    """The frozen cfg of one trial. `weights` is a converted .pkl or "" (random initialisation)."""
    cfg = paper_cfg()
    apply_protocol(cfg, scaled_protocol(scale))
    if cfg.SOLVER.IMS_PER_BATCH % world_size:
        raise UsageError(
            f"{cfg.SOLVER.IMS_PER_BATCH} images per batch do not split over {world_size} processes; "
            "launch a number of processes that divides it"
        )
    set_backbone(cfg, arch)
    cfg.MODEL.WEIGHTS = weights
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = num_classes
    cfg.MODEL.DEVICE = device
    cfg.DATASETS.TRAIN = tuple(train)
    cfg.DATASETS.TEST = (test,)
    cfg.OUTPUT_DIR = str(out_dir)
    cfg.SEED = seed
    cfg.freeze()
    return cfg

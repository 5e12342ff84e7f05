"""The Detectron2 config of one VOC fine-tuning: recipes/detection.yaml, shrunk by --scale, paths filled in.

The paper-scale truth is the YAML file (the official MoCo config, flattened). A scale changes only
iterations (and the iteration counts tied to them: steps, warm-up, precise BN, checkpoint period),
images per batch with the lr linear in it (Detectron2's and the paper's linear scaling rule), image sizes,
how many images a smoke run touches, and loader workers: never the model, the norm, the head or the
schedule's shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mocobench.config.recipes import recipes_dir, scale_rules
from mocobench.errors import UsageError

DETECTION_RULES: dict[str, type] = {
    "iter_factor": float,
    "ims_per_batch": int,
    "size_factor": float,
    "max_train_images": int,
    "max_test_images": int,
    "workers": int,
}
DEPTHS = {"resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101, "resnet152": 152}


def paper_config_path() -> Path:
    path = recipes_dir() / "detection.yaml"
    if not path.is_file():
        raise UsageError(f"cannot find {path}; set MOCOBENCH_RECIPES to the repo's recipes/ directory")
    return path


def detection_rules(scale: str) -> dict[str, Any]:
    """`[<scale>.detection]` of recipes/scales.toml, type-checked."""
    rules = scale_rules(scale).get("detection", {})
    unknown = [k for k in rules if k not in DETECTION_RULES]
    if unknown:
        raise UsageError(
            f"scales.toml [{scale}.detection]: unknown rule(s) {', '.join(unknown)}; remove them"
        )
    return {k: DETECTION_RULES[k](v) for k, v in rules.items()}


def paper_cfg() -> Any:
    """Detectron2's defaults with recipes/detection.yaml merged over them (registers our ROI head)."""
    from detectron2.config import get_cfg

    import mocobench.detection.heads  # noqa: F401  (registers Res5ROIHeadsExtraNorm)

    cfg = get_cfg()
    cfg.merge_from_file(str(paper_config_path()))
    return cfg


def _scaled(value: int, factor: float, minimum: int = 1) -> int:
    return max(minimum, round(value * factor))


def apply_detection_scale(cfg: Any, rules: dict[str, Any]) -> None:
    """Shrink a paper-scale cfg in place by a scale's detection rules (see the module docstring)."""
    f = rules.get("iter_factor", 1.0)
    if f != 1.0:
        max_iter = cfg.SOLVER.MAX_ITER
        cfg.SOLVER.MAX_ITER = _scaled(max_iter, f)
        # Steps keep their fraction of training; a step that would fall at or after the end is dropped.
        cfg.SOLVER.STEPS = tuple(
            sorted({s for s in (round(s * f) for s in cfg.SOLVER.STEPS) if s < cfg.SOLVER.MAX_ITER})
        )
        cfg.SOLVER.WARMUP_ITERS = _scaled(cfg.SOLVER.WARMUP_ITERS, f, 0)
        cfg.SOLVER.CHECKPOINT_PERIOD = _scaled(cfg.SOLVER.CHECKPOINT_PERIOD, f)
        cfg.TEST.PRECISE_BN.NUM_ITER = _scaled(cfg.TEST.PRECISE_BN.NUM_ITER, f)
    if "ims_per_batch" in rules:
        ims = rules["ims_per_batch"]
        cfg.SOLVER.BASE_LR = cfg.SOLVER.BASE_LR * ims / cfg.SOLVER.IMS_PER_BATCH
        cfg.SOLVER.IMS_PER_BATCH = ims
    k = rules.get("size_factor", 1.0)
    if k != 1.0:
        cfg.INPUT.MIN_SIZE_TRAIN = tuple(sorted({_scaled(s, k) for s in cfg.INPUT.MIN_SIZE_TRAIN}))
        cfg.INPUT.MIN_SIZE_TEST = _scaled(cfg.INPUT.MIN_SIZE_TEST, k)
        cfg.INPUT.MAX_SIZE_TRAIN = _scaled(cfg.INPUT.MAX_SIZE_TRAIN, k)
        cfg.INPUT.MAX_SIZE_TEST = _scaled(cfg.INPUT.MAX_SIZE_TEST, k)
    if "workers" in rules:
        cfg.DATALOADER.NUM_WORKERS = rules["workers"]


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
    apply_detection_scale(cfg, detection_rules(scale))
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

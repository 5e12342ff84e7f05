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
    "precise_bn_iters": int,
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


# The values a scale may change: (key here, section path in the YAML).
SCALED = {
    "max_iter": ("SOLVER", "MAX_ITER"),
    "steps": ("SOLVER", "STEPS"),
    "warmup_iters": ("SOLVER", "WARMUP_ITERS"),
    "checkpoint_period": ("SOLVER", "CHECKPOINT_PERIOD"),
    "ims_per_batch": ("SOLVER", "IMS_PER_BATCH"),
    "base_lr": ("SOLVER", "BASE_LR"),
    "min_size_train": ("INPUT", "MIN_SIZE_TRAIN"),
    "min_size_test": ("INPUT", "MIN_SIZE_TEST"),
    "max_size_train": ("INPUT", "MAX_SIZE_TRAIN"),
    "max_size_test": ("INPUT", "MAX_SIZE_TEST"),
    "precise_bn_iters": ("TEST", "PRECISE_BN", "NUM_ITER"),
    "workers": ("DATALOADER", "NUM_WORKERS"),
}


def paper_document() -> dict[str, Any]:
    """recipes/detection.yaml parsed as plain data (no Detectron2 needed: tables, plans, voc.json)."""
    import yaml

    return yaml.safe_load(paper_config_path().read_text())


def paper_values() -> dict[str, Any]:
    """The scalable values of recipes/detection.yaml."""
    path = paper_config_path()
    doc = paper_document()
    out = {}
    for key, where in SCALED.items():
        node = doc
        for part in where:
            if not isinstance(node, dict) or part not in node:
                raise UsageError(f"{path}: {'.'.join(where)} is missing; restore it from the official config")
            node = node[part]
        out[key] = node
    return out


def _scaled(value: int, factor: float, minimum: int = 1) -> int:
    return max(minimum, round(value * factor))


def scaled_protocol(scale: str) -> dict[str, Any]:
    """The paper values shrunk by the scale's rules (see the module docstring); `max_*_images` caps too."""
    rules = detection_rules(scale)
    p = paper_values()
    f = rules.get("iter_factor", 1.0)
    if f != 1.0:
        max_iter = _scaled(p["max_iter"], f)
        # Steps keep their fraction of training; one that would fall at or after the end is dropped.
        p["steps"] = sorted({s for s in (round(s * f) for s in p["steps"]) if s < max_iter})
        p["max_iter"] = max_iter
        p["warmup_iters"] = _scaled(p["warmup_iters"], f, 0)
        p["checkpoint_period"] = _scaled(p["checkpoint_period"], f)
        p["precise_bn_iters"] = _scaled(p["precise_bn_iters"], f)
    if "ims_per_batch" in rules:
        p["base_lr"] = p["base_lr"] * rules["ims_per_batch"] / p["ims_per_batch"]
        p["ims_per_batch"] = rules["ims_per_batch"]
    k = rules.get("size_factor", 1.0)
    if k != 1.0:
        p["min_size_train"] = sorted({_scaled(s, k) for s in p["min_size_train"]})
        for key in ("min_size_test", "max_size_train", "max_size_test"):
            p[key] = _scaled(p[key], k)
    # Precise BN estimates statistics from its batches: a few more than the scaled count keep them usable.
    p["precise_bn_iters"] = rules.get("precise_bn_iters", p["precise_bn_iters"])
    p["workers"] = rules.get("workers", p["workers"])
    p["max_train_images"] = rules.get("max_train_images", 0)
    p["max_test_images"] = rules.get("max_test_images", 0)
    return p


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

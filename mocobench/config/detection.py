"""The VOC detection protocol (`recipes/detection.yaml`, the official MoCo config flattened) at a scale.

The paper-scale truth is the YAML file. A scale (`[<scale>.detection]` in scales.toml) changes only
iterations (and the iteration counts tied to them: steps, warm-up, precise BN, checkpoint period), images
per batch with the lr linear in it (Detectron2's and the paper's linear scaling rule), image sizes, how many
images a smoke run touches, and loader workers: never the model, the norm, the head or the schedule's shape.
Read without Detectron2 (tables, plans and voc.json need it); `detection/cfg.py` writes it into a cfg.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mocobench.config.files import recipes_dir
from mocobench.config.scales import scale_rules
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


def config_digest() -> str:
    """Digest of recipes/detection.yaml's content (not its comments or layout)."""
    return hashlib.sha256(json.dumps(paper_document(), sort_keys=True).encode()).hexdigest()[:16]

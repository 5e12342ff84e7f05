"""The stages, in priority order, and each one's sizes and time caps per device.

`--device cuda` runs the real sizes (paper-scale steps, batch 256); `--device cpu` runs every stage as a
smoke on tiny data, so the same commands, figures and report are exercised on a machine with no GPU.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
from dataclasses import dataclass

RECIPE = "mlp+aug+cos"
STAGES = (
    "pretrain-fast",
    "pretrain-official",
    "bench-step",
    "bench-loader",
    "profile",
    "linear",
    "detect-voc",
    "tier",
)
TIER_RECIPES = ("moco-v1", "mlp+aug+cos")  # Table 1's MoCo v1 and (d): the pair the one-GPU tier times


@dataclass(frozen=True)
class Cap:
    """A stage's (or sub-run's) time: the most it may take, and the least worth starting it with."""

    cap: float
    minimum: float


@dataclass(frozen=True)
class Sizes:
    """Per-device options: the GPU's real sizes, or the CPU smoke's tiny ones."""

    pretrain: tuple[str, ...]
    step: tuple[str, ...]
    step_data: bool  # whether bench step runs the real loader (and so takes --data)
    step_options: tuple[str, ...]
    step_skipped: dict[str, str]
    loader: tuple[str, ...]
    loaders: tuple[str, ...]
    profile: tuple[str, ...]
    tier: tuple[str, ...]
    caps: dict[str, Cap]


def _sets(*pairs: str) -> tuple[str, ...]:
    return tuple(a for p in pairs for a in ("--set", p))


def _args(text: str) -> tuple[str, ...]:
    return tuple(shlex.split(text))


def sizes_for(device: str) -> Sizes:
    workers = str(min(16, os.cpu_count() or 1))
    all_options = ("fp32", "channels_last,bf16,fused", "channels_last,bf16,fused,compile")
    if device == "cuda":
        return Sizes(
            pretrain=(),
            step=("--scale", "paper", "--batch", "256", "--loader", "auto", "--workers", workers),
            step_data=True,
            step_options=all_options,
            step_skipped={},
            loader=("--workers", workers, "--batch", "256", "--batches", "20"),
            loaders=("pil", "torch", "ffcv"),
            profile=(),
            tier=(),  # the tier as scales.toml defines it, on the embedded set grown to 50,000 images
            caps={
                "setup": Cap(180, 10),
                "pretrain-fast": Cap(300, 60),  # embedded data on first use (~25 s) and compile
                "pretrain-official": Cap(150, 30),
                "fp32": Cap(150, 40),
                "channels_last,bf16,fused": Cap(150, 40),
                "channels_last,bf16,fused,compile": Cap(300, 90),
                "bench-loader": Cap(150, 30),
                "profile": Cap(240, 60),
                "linear": Cap(120, 20),
                "voc-data": Cap(60, 10),
                "detect-voc": Cap(180, 40),
                "tier": Cap(math.inf, 60),
            },
        )
    return Sizes(
        pretrain=_sets("epochs=1", "batch_size=8", "image_size=16", "moco_k=64"),
        step=_args("--scale smoke --set image_size=32 --batch 16 --steps 2 --warmup 1 --loader none"),
        step_data=False,
        step_options=all_options[:2],
        step_skipped={all_options[2]: "cpu smoke: torch.compile takes minutes on a CPU"},
        loader=_args("--workers 0 --batch 8 --batches 2 --warmup 1 --image-size 32"),
        loaders=("pil", "torch"),
        # per-GPU batches 32 and 512 are Table 3's own, so nothing beyond the two lines' points runs
        profile=_args("--arch resnet18 --image-size 8 --steps 1 --warmup 0 --fit-batches 32,512"),
        # 80 images: batch 4 keeps the tier's 20 steps an epoch (a larger batch is refused)
        tier=_sets("epochs=2", "batch_size=4", "bn_group=4", "image_size=16", "moco_k=64", "workers=0"),
        caps={
            "setup": Cap(60, 5),
            "pretrain-fast": Cap(60, 10),
            "pretrain-official": Cap(60, 10),
            "fp32": Cap(60, 10),
            "channels_last,bf16,fused": Cap(60, 10),
            "bench-loader": Cap(60, 10),
            "profile": Cap(120, 20),
            "linear": Cap(60, 10),
            "voc-data": Cap(30, 5),
            "detect-voc": Cap(90, 15),
            "tier": Cap(math.inf, 10),
        },
    )


def uncapped(sizes: Sizes) -> Sizes:
    """`sizes` with no time limit on any stage (`--no-caps`); the budget no longer skips any either."""
    caps = {name: Cap(math.inf, 0.0) for name in sizes.caps}
    return dataclasses.replace(sizes, caps=caps)

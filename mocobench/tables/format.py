"""The columns of Tables 1 and 2, how their figures are summarised, and how every cell reads.

One spelling for CSV, Markdown, the terminal and the notes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

# The knobs each paper table shows per row, and Table 1's VOC metrics: (column prefix, the store's metric
# name, the paper CSV's column).
KNOBS = {1: ("mlp", "aug_plus", "cos", "epochs"), 2: ("mlp", "aug_plus", "cos", "epochs", "batch")}
VOC_METRICS = (("ap50", "AP50", "voc_ap50"), ("ap", "AP", "voc_ap"), ("ap75", "AP75", "voc_ap75"))
# Table 1's VOC shape per row: pre-training seeds with VOC figures, and the fewest and most trials of one.
VOC_SHAPE = ("voc_seeds", "voc_trials_min", "voc_trials_max")
MISSING = "-"


def stats(values: pd.Series) -> tuple[float, float, int]:
    """Mean, sample std (ddof 1; NaN for fewer than 2) and count of the non-missing values."""
    vals = sorted(float(v) for v in values if not pd.isna(v))  # sorted: the order of the store never matters
    n = len(vals)
    if n == 0:
        return math.nan, math.nan, 0
    mean = math.fsum(vals) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else math.nan
    return mean, std, n


@dataclass(frozen=True)
class NestedStats:
    """Figures of several fine-tunes (trials) of each of several pre-trained models (seeds).

    `mean` is over all `n` trials; `std` is the pooled within-model sample std, sqrt(sum over models of
    sum (x - model mean)^2 / sum (trials - 1)): the spread across trials of one model, as the paper's VOC
    std (facebookresearch/moco detection/README.md:61@7397dfe: means of 5 trials, "the std of AP50, AP,
    AP75 is expected to be 0.2, 0.2, 0.4"), NaN while no model has 2 trials; `seed_std` is the sample std
    of the per-model means (NaN below 2 models); `trials` is the (fewest, most) trials of one model.
    """

    mean: float
    std: float
    n: int
    seeds: int
    seed_std: float
    trials: tuple[int, int]


def seed_groups(trials: pd.DataFrame, seed_of: Mapping[str, int]) -> dict[int, list[float]]:
    """Each pre-training seed's trial values (`trials` has run_dir and value columns; `seed_of` maps each
    run folder to its seed; other folders and NaNs are left out): trials of one seed share its backbone."""
    by_seed: dict[int, list[float]] = {}
    for run_dir, value in zip(trials["run_dir"], trials["value"], strict=True):
        if run_dir in seed_of and not pd.isna(value):
            by_seed.setdefault(int(seed_of[run_dir]), []).append(float(value))
    return by_seed


def nested_stats(groups: Mapping[Any, Sequence[float]]) -> NestedStats:
    """`NestedStats` of the trials of each model (`groups`: model -> its trials' values; NaNs dropped)."""
    models = [sorted(float(v) for v in vals if not pd.isna(v)) for _, vals in sorted(groups.items())]
    models = [vals for vals in models if vals]
    mean, _, n = stats(pd.Series([v for vals in models for v in vals], dtype=float))
    if not models:
        return NestedStats(math.nan, math.nan, 0, 0, math.nan, (0, 0))
    dof = sum(len(vals) - 1 for vals in models)
    within = math.fsum((v - math.fsum(vals) / len(vals)) ** 2 for vals in models for v in vals)
    std = math.sqrt(within / dof) if dof else math.nan
    seed_std = stats(pd.Series([math.fsum(vals) / len(vals) for vals in models], dtype=float))[1]
    sizes = [len(vals) for vals in models]
    return NestedStats(mean, std, n, len(models), seed_std, (min(sizes), max(sizes)))


def format_figure(mean: float, std: float, n: int) -> str:
    """`29.1 ± 0.5 (n=2)`, `29.1 (n=1)` or `-`."""
    if n == 0 or pd.isna(mean):
        return MISSING
    if n == 1 or pd.isna(std):
        return f"{mean:.1f} (n={n})"
    return f"{mean:.1f} ± {std:.1f} (n={n})"


def format_paper(value: Any) -> str:
    return MISSING if pd.isna(value) else f"{float(value):.1f}"


def tick(flag: Any) -> str:
    return "✓" if bool(flag) else ""


def arch_name(arch: str) -> str:
    """`resnet18` -> `ResNet-18` (anything else unchanged)."""
    m = re.fullmatch(r"resnet(\d+)", arch)
    return f"ResNet-{m.group(1)}" if m else arch


def is_embedded(path: str) -> bool:
    """Whether a data path is the generated shapes dataset's cache folder."""
    return Path(str(path)).name.startswith("shapes-")


def describe_data(path: str) -> str:
    """A data path as a reader should see it: the generated shapes cache is named, not its temp path."""
    name = Path(str(path)).name
    if is_embedded(path):
        return f"embedded generated shapes dataset ({name})"
    return str(path)

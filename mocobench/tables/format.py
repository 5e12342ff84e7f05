"""The columns of Tables 1 and 2, how their figures are summarised, and how every cell reads.

One spelling for CSV, Markdown, the terminal and the notes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

# The knobs each paper table shows per row, and Table 1's VOC metrics: (column prefix, the store's metric
# name, the paper CSV's column).
KNOBS = {1: ("mlp", "aug_plus", "cos", "epochs"), 2: ("mlp", "aug_plus", "cos", "epochs", "batch")}
VOC_METRICS = (("ap50", "AP50", "voc_ap50"), ("ap", "AP", "voc_ap"), ("ap75", "AP75", "voc_ap75"))
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

"""The paper's figures (Tables 1-3 of arXiv:2003.04297 and the reference's linear trials) as DataFrames.

The CSVs live in the repo's `tables/paper/`, beside `notes.toml` (our notes on paper rows), `orderings.toml`
(the paper's pairs worth checking at a smaller scale) and `cifar10_demo.csv` (the official CIFAR-10 demo's
published kNN top-1, PAPER.md "Small-scale reference"); a wheel carries a copy as `mocobench/_paper`. The
row order of each CSV is the paper's.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mocobench.config.files import read_toml
from mocobench.errors import UsageError

TABLES = (1, 2, 3)
_BOOL = {
    "table1": ("mlp", "aug_plus", "cos"),
    "table2": ("mlp", "aug_plus", "cos"),
    "table3": ("memory_estimated",),
}
_INT = {
    "table1": ("epochs",),
    "table2": ("epochs", "batch"),
    "table3": ("batch", "hours_200ep"),
    "cifar10_demo": ("epochs",),
}
_FLOAT = {
    "table1": ("imagenet_top1", "voc_ap50", "voc_ap", "voc_ap75"),
    "table2": ("imagenet_top1",),
    "table3": ("memory_gb_per_gpu",),
    "cifar10_demo": ("knn_top1",),
}
# The metrics an ordering may compare -> the paper CSV's column holding it.
ORDERING_METRICS = {
    "linear_top1": "imagenet_top1",
    "voc_ap50": "voc_ap50",
    "voc_ap": "voc_ap",
    "voc_ap75": "voc_ap75",
}
DEMO_LOSSES = ("asymmetric", "symmetric")


def paper_dir() -> Path:
    """`$MOCOBENCH_PAPER_TABLES`, the repo's `tables/paper/` (editable install), or the copy in the wheel."""
    env = os.environ.get("MOCOBENCH_PAPER_TABLES")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "tables" / "paper", here.parent.parent / "_paper"):
        if candidate.is_dir():
            return candidate
    raise UsageError(
        "cannot find the paper's tables; set MOCOBENCH_PAPER_TABLES to the repo's tables/paper/ directory"
    )


def _read(name: str) -> pd.DataFrame:
    path = paper_dir() / f"{name}.csv"
    if not path.is_file():
        raise UsageError(
            f"cannot find {path}; set MOCOBENCH_PAPER_TABLES to the repo's tables/paper/ directory"
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not a readable CSV ({e}); restore it from the repository") from e
    try:
        for col in _BOOL.get(name, ()):
            flags = frame[col].str.strip().str.lower().map({"true": True, "false": False})
            if flags.isna().any():
                raise ValueError(f"column {col} must hold true or false")
            frame[col] = flags.astype(bool)
        for col in _INT.get(name, ()):
            frame[col] = pd.to_numeric(frame[col].replace("", None)).astype("Int64")
        for col in _FLOAT.get(name, ()):
            frame[col] = pd.to_numeric(frame[col].replace("", None)).astype(float)
    except (KeyError, ValueError, TypeError) as e:
        raise UsageError(f"{path}: unexpected column or value ({e}); restore it from the repository") from e
    return frame


def load_paper_table(n: int) -> pd.DataFrame:
    """Table `n` (1, 2 or 3) of the paper: one row per paper row, in the paper's order."""
    if n not in TABLES:
        raise UsageError(f"no table {n} in the paper; use 1, 2 or 3")
    return _read(f"table{n}")


def load_linear_trials() -> pd.DataFrame:
    """The public reference's 5 linear trials of MoCo v1 and v2: columns case, trial, imagenet_top1."""
    frame = _read("linear_trials")
    try:
        frame["trial"] = frame["trial"].astype(int)
        frame["imagenet_top1"] = frame["imagenet_top1"].astype(float)
    except (KeyError, ValueError) as e:
        raise UsageError(f"{paper_dir()}/linear_trials.csv: unexpected content ({e}); restore it") from e
    return frame


def paper_row_notes(n: int) -> list[tuple[str, str]]:
    """(row, note) for table `n` from `notes.toml`, in the file's order."""
    path = paper_dir() / "notes.toml"
    if not path.is_file():
        raise UsageError(
            f"cannot find {path}; set MOCOBENCH_PAPER_TABLES to the repo's tables/paper/ directory"
        )
    try:
        return [
            (str(note["row"]), str(note["text"]))
            for note in read_toml(path).get("note", [])
            if note["table"] == n
        ]
    except (KeyError, TypeError) as e:
        raise UsageError(f"{path}: each [[note]] needs table, row and text ({e}); restore it") from e


def row_position(n: int, row: str) -> int:
    """Where `row` stands in table `n` of the paper (its rows' order); rows not in it come last."""
    rows = list(load_paper_table(n)["row"])
    return rows.index(row) if row in rows else len(rows)


@dataclass(frozen=True)
class PaperOrdering:
    """One pair of paper rows whose order the paper shows beyond its own spread: B is expected higher."""

    table: int
    a: str
    b: str
    metric: str  # a key of ORDERING_METRICS
    paper_a: float
    paper_b: float
    shows: str

    @property
    def paper_gap(self) -> float:
        return self.paper_b - self.paper_a


@dataclass(frozen=True)
class PaperOrderings:
    """`orderings.toml`: the rule (a gap counts above `factor` x `spread[metric]`) and the listed pairs."""

    factor: float
    spread: dict[str, float]
    pairs: tuple[PaperOrdering, ...]

    def threshold(self, metric: str) -> float:
        return self.factor * self.spread[metric]

    def for_table(self, n: int) -> list[PaperOrdering]:
        return [p for p in self.pairs if p.table == n]


def load_orderings() -> PaperOrderings:
    """The paper's significant pairs (`orderings.toml`), in the file's order."""
    path = paper_dir() / "orderings.toml"
    if not path.is_file():
        raise UsageError(
            f"cannot find {path}; set MOCOBENCH_PAPER_TABLES to the repo's tables/paper/ directory"
        )
    data = read_toml(path)
    try:
        spread = {str(k): float(v) for k, v in data["spread"].items()}
        pairs = tuple(
            PaperOrdering(
                int(o["table"]),
                str(o["a"]),
                str(o["b"]),
                str(o["metric"]),
                float(o["paper_a"]),
                float(o["paper_b"]),
                str(o["shows"]),
            )
            for o in data.get("ordering", [])
        )
        factor = float(data["factor"])
        named = {p.metric for p in pairs} | set(spread)
        unknown = sorted(named - set(ORDERING_METRICS))
        if unknown:
            raise ValueError(f"unknown metric {', '.join(unknown)}; use {', '.join(ORDERING_METRICS)}")
        missing = sorted({p.metric for p in pairs} - set(spread))
        if missing:
            raise ValueError(f"no [spread] for {', '.join(missing)}")
    except (KeyError, TypeError, ValueError) as e:
        raise UsageError(
            f"{path}: needs factor, [spread] and [[ordering]] table, a, b, metric, paper_a, paper_b, shows "
            f"({e}); restore it"
        ) from e
    return PaperOrderings(factor, spread, pairs)


def load_cifar10_demo() -> pd.DataFrame:
    """The official MoCo CIFAR-10 demo's published kNN top-1 (PAPER.md "Small-scale reference"): columns
    loss (asymmetric, symmetric), epochs, knn_top1."""
    frame = _read("cifar10_demo")
    bad = sorted(set(frame["loss"]) - set(DEMO_LOSSES)) if "loss" in frame else ["no loss column"]
    if bad or frame["knn_top1"].map(math.isnan).any():
        raise UsageError(f"{paper_dir()}/cifar10_demo.csv: unexpected content ({bad}); restore it")
    return frame


def demo_reference(loss: str = "asymmetric") -> dict[int, float]:
    """Epochs -> the demo's published kNN top-1 for `loss`."""
    frame = load_cifar10_demo()
    rows = frame[frame["loss"] == loss]
    return {int(e): float(v) for e, v in zip(rows["epochs"], rows["knn_top1"], strict=True)}

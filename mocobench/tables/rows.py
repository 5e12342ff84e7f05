"""The typed rows and header of Tables 1 and 2: what `assemble` builds and `render` and `notes` read.

One `Row` per paper row (the paper's figures, ours with their std and counts, Table 1's VOC seeds x trials,
the row's pre-training and the plan's steps for it); one `Header` per table (scale, caveats, protocols,
hardware, data, commits). The CSV is `Row.record` of every row, so a column cannot drift from its field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from mocobench.tables.format import KNOBS, VOC_METRICS, VOC_SHAPE
from mocobench.tables.learning import NOT_JUDGED, Learned
from mocobench.tables.plan import Step


@dataclass(frozen=True)
class Figure:
    """Mean, sample std and count of our figures of one cell (`format.stats`; NaN and 0 when none)."""

    mean: float
    std: float
    n: int


@dataclass(frozen=True)
class VocCell:
    """One VOC metric of a Table 1 row: the paper's figure, ours (± the std over trials of one model) and
    the spread across seeds (`format.nested_stats`)."""

    prefix: str  # the CSV's column prefix: ap50, ap, ap75
    metric: str  # the store's metric name: AP50, AP, AP75
    paper: float
    ours: Figure
    seed_std: float


@dataclass(frozen=True)
class Compute:
    """A row's pre-training at the scale: its recipe's settings and the finished runs' compute."""

    arch: str
    image_size: int
    epochs: int
    batch_size: int
    lr: float
    linear_protocol: str
    finished_runs: int
    pretrain_seconds: float | None  # None: no finished run


@dataclass(frozen=True)
class Row:
    """One paper row at a scale. `voc` says whether it has VOC columns to fill (a Table 1 row with VOC
    figures in the paper, `plan.voc_rows`, at a scale with detection); `steps` are the plan's for its runs
    in the store, which the notes render."""

    label: str
    recipe: str  # "" when no recipe names the paper row
    mlp: bool
    aug_plus: bool
    cos: bool
    epochs: int | None
    batch: int | None  # Table 2's knob; None in Table 1
    paper_top1: float
    top1: Figure
    seeds: int  # pre-training seeds with a linear top-1
    knn: Figure
    knn_init_mean: float
    runs_finished: int
    learns: Learned = NOT_JUDGED  # tables/learning.py: from the row's own kNN and linear figures
    knn_curve: tuple[tuple[int, float], ...] = ()  # mean kNN per epoch of its finished runs (0: random init)
    voc: bool = False
    voc_cells: tuple[VocCell, ...] = ()  # Table 1 only: one per `format.VOC_METRICS`
    voc_shape: tuple[int, int, int] = (0, 0, 0)  # seeds with VOC figures, fewest and most trials of one
    compute: Compute | None = None  # None when no recipe names the row
    steps: tuple[Step, ...] = ()

    def record(self, number: int) -> dict[str, Any]:
        """The row's CSV record for table `number` (the columns of `table<N>*.csv`, in order)."""
        knobs = {"mlp": self.mlp, "aug_plus": self.aug_plus, "cos": self.cos}
        knobs.update({"epochs": self.epochs, "batch": self.batch})
        out: dict[str, Any] = {"row": self.label, "recipe": self.recipe}
        out.update({k: knobs[k] for k in KNOBS[number]})
        out.update(
            {
                "paper_top1": self.paper_top1,
                "top1_mean": self.top1.mean,
                "top1_std": self.top1.std,
                "top1_n": self.top1.n,
                "seeds": self.seeds,
                "knn_mean": self.knn.mean,
                "knn_std": self.knn.std,
                "knn_n": self.knn.n,
                "knn_init_mean": self.knn_init_mean,
                "runs_finished": self.runs_finished,
                "learns": self.learns.verdict,
                "learns_why": self.learns.why,
            }
        )
        if number == 1:
            for cell in self.voc_cells:
                p = cell.prefix
                out.update({f"paper_{p}": cell.paper, f"{p}_mean": cell.ours.mean, f"{p}_std": cell.ours.std})
                out.update({f"{p}_n": cell.ours.n, f"{p}_seed_std": cell.seed_std})
            out.update(zip(VOC_SHAPE, self.voc_shape, strict=True))
        return out

    @property
    def voc_n(self) -> int:
        """Our VOC figures of the row, over its metrics (0: its VOC cells are empty)."""
        return sum(cell.ours.n for cell in self.voc_cells)


def frame_of(number: int, rows: tuple[Row, ...]) -> pd.DataFrame:
    """The CSV's frame of `rows`: counts as integers, the knobs' epochs and batch as nullable integers."""
    frame = pd.DataFrame.from_records([row.record(number) for row in rows])
    frame["knn_init_mean"] = frame["knn_init_mean"].astype(float)
    for col in ("top1_n", "seeds", "knn_n", "runs_finished"):
        frame[col] = frame[col].astype(int)
    for col in ("epochs", "batch"):
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    if number == 1:
        counts = [f"{prefix}_n" for prefix, _, _ in VOC_METRICS] + list(VOC_SHAPE)
        frame[counts] = frame[counts].astype(int)
    return frame


@dataclass(frozen=True)
class LinearProtocol:
    """A linear protocol at the scale, for the header, with the rows it scores."""

    name: str
    epochs: int
    batch_size: int
    lr: float
    cos: bool
    schedule: tuple[int, ...]
    nesterov: bool
    weight_decay: float
    image_size: int
    max_images_per_class: int | None
    rows: tuple[str, ...]


@dataclass(frozen=True)
class VocProtocol:
    """Table 1's detection protocol at the scale, for the header."""

    max_iter: int
    ims_per_batch: int
    base_lr: float
    steps: tuple[int, ...]
    min_size_train: tuple[int, ...]
    min_size_test: int
    max_test_images: int | None


@dataclass(frozen=True)
class Header:
    """What the paragraph above a table says, and what it decides for the whole table: whether it has VOC
    columns and its `orderings` state (`verdicts` below the paper's compute, `smoke`, or "" at paper)."""

    table: int
    title: str
    scale: str
    scale_description: str
    warning: str
    caveats: tuple[str, ...]
    orderings: str
    has_voc: bool
    linear_protocols: tuple[LinearProtocol, ...]
    voc_protocol: VocProtocol | None
    hardware_pretrain: tuple[str, ...]
    hardware_evaluation: tuple[str, ...]
    data: tuple[str, ...]
    commits: tuple[str, ...]
    runs_without_commit: int
    runs: tuple[str, ...]

"""How each figure of Tables 1 and 2 was made, for the notes: the linear cells pool every trial of every
seed; Table 1's VOC cells are seeds x trials of fine-tuning, their ± the std across trials of one model (the
paper's: its VOC figures are means of 5 trials of one pre-trained model, facebookresearch/moco
detection/README.md:61@7397dfe) and the spread across seeds beside it (`format.nested_stats`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mocobench.config.scales import voc_trials
from mocobench.results import layout
from mocobench.tables.format import MISSING
from mocobench.tables.plan import Step
from mocobench.tables.rows import Row

LINEAR_STRUCTURE = (
    "Linear top-1 cells: mean ± sample std over every linear trial of every pre-training seed of the row, "
    "pooled (n = seeds x trials; the seeds column counts the seeds)."
)
VOC_STRUCTURE = (
    "VOC cells: the mean of every fine-tune of the row (seeds x trials); ± is the pooled std over the "
    "trials of one model, as the paper's (means of 5 trials of one pre-trained model, facebookresearch/moco "
    "detection/README.md:61@7397dfe), shown from 2 trials a model; seed spread: the std of the per-seed "
    "means (AP50/AP/AP75; CSV: `<metric>_seed_std`)."
)


def figure_notes(n: int, scale: str, rows: Sequence[Row], has_voc: bool, runs_dir: str) -> list[str]:
    """How each figure was made: the linear cells' pooling and, for Table 1's VOC cells, each row's seeds x
    trials, the std they show (across trials of one model) and the spread across seeds beside it; rows
    whose plan has VOC trials of a fine-tuned model still to run name the command that adds them."""
    notes = [LINEAR_STRUCTURE]
    if n != 1 or not has_voc:
        return notes
    shown = [r for r in rows if r.voc_shape[0] > 0]
    if not shown:
        return notes
    by_row = "; ".join(f"{r.label} {voc_shape(r)}" for r in shown)
    note = f"{VOC_STRUCTURE} By row at scale {scale}: {by_row}."
    short = [r.label for r in shown if _short(r.steps)]
    if short:
        runs_opt = "" if runs_dir == layout.DEFAULT_RUNS else f" --runs {runs_dir}"
        note += (
            f" {'; '.join(short)}: fewer than the {voc_trials(scale)} trials a model that scale {scale} "
            f"plans; `mocobench reproduce table 1 --scale {scale}{runs_opt}` runs the missing ones."
        )
    return [*notes, note]


def _short(steps: Sequence[Step]) -> bool:
    """Whether some model has VOC trials done and others still to run (the plan's steps)."""
    voc = [s for s in steps if s.kind == "voc"]
    done = {s.run_dir for s in voc if s.state == "done"}
    return any(s.state == "run" and s.run_dir in done for s in voc)


def voc_shape(r: Row) -> str:
    """A Table 1 row's VOC structure: `2 seeds x 5 trials, seed spread 0.3/0.2/0.5` (AP50/AP/AP75)."""
    seeds, lo, hi = r.voc_shape
    trials = f"{lo}-{hi} trials" if lo != hi else f"{lo} trial{'s' * (lo != 1)}"
    shape = f"{seeds} seed{'s' * (seeds != 1)} x {trials}"
    if seeds > 1:
        spread = [cell.seed_std for cell in r.voc_cells]
        shape += ", seed spread " + "/".join(MISSING if pd.isna(v) else f"{v:.1f}" for v in spread)
    return shape

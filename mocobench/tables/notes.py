"""The notes under a reproduced table: what is partial, which command fills each gap, and the caveats.

Every note is a function of the result store and the repo's data (the paper rows' own notes are
`tables/paper/notes.toml`), so a table's notes change only when its runs or results do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mocobench.augment.spec import blur_sigma_px
from mocobench.config.linear import protocol_title
from mocobench.config.paper import paper_row_notes
from mocobench.config.scales import BLUR_TOO_SMALL_PX
from mocobench.data.synth import SynthSpec
from mocobench.results import layout
from mocobench.tables.format import MISSING, arch_name, format_figure, is_embedded, stats
from mocobench.tables.learning import MARGIN
from mocobench.tables.plan import Step
from mocobench.tables.rows import Compute, Row
from mocobench.train.pipelines import describe

COMPARE_ORDERINGS = (
    "**Compare orderings only**: absolute figures at this scale are not comparable to the paper's."
)
PIPELINE_CHECK = (
    "**Smoke: a pipeline check, not a result**: these figures show that every step ran, not what a row "
    "learns (smoke: no verdicts)."
)
PIPELINE_CHECK_DEMO = (
    "**Smoke: a pipeline check, not a result**: these figures show that every step ran, not what the demo "
    "learns."
)
LEARN_MARGIN = MARGIN  # points above chance (100 / classes) a linear top-1 must clear: tables/learning.py
AUG_PLUS_ROWS = ("(b)", "(c)")  # Table 1's aug+ steps (PAPER.md: MoCo v1 -> (b), (a) -> (c))

VOC_NOT_YET = (
    "VOC columns: no detection result at this scale yet; `mocobench detect-voc --pretrained RUN` fills a "
    "row's cells (`mocobench reproduce table 1` runs it for every row)."
)


class FillNote(str):
    """A row note for a row with no run at all, which `reproduce_command` fills: `display_notes` folds
    several into one note naming that one command, instead of a recipe of commands per row."""

    row: str
    table: int
    scale: str
    reproduce_command: str

    def __new__(cls, text: str, row: str, table: int, scale: str, reproduce_command: str) -> FillNote:
        note = super().__new__(cls, text)
        note.row, note.table, note.scale, note.reproduce_command = row, table, scale, reproduce_command
        return note


def display_notes(notes: Sequence[str]) -> list[str]:
    """`notes` as the terminal and the Markdown show them: two or more rows without a run (`FillNote`s)
    become one note, where the first of them was, with the one command that fills them all."""
    fills = [note for note in notes if isinstance(note, FillNote)]
    if len(fills) < 2:
        return [str(note) for note in notes]
    first = fills[0]
    merged = (
        f"{len(fills)} rows have no run at scale {first.scale} ({'; '.join(f.row for f in fills)}): "
        f"`{first.reproduce_command}` fills them all (pre-training, then each evaluation; it also continues "
        "unfinished runs and scores unscored ones, and resumes when run again; `--dry-run` shows the plan)"
    )
    shown = []
    for note in notes:
        if note is first:
            shown.append(merged)
        elif not isinstance(note, FillNote):
            shown.append(str(note))
    return shown


def _resume_command(run: pd.Series, scale: str) -> str:
    data = str(run.get("data", "") or "")
    data_opt = "" if not data or is_embedded(data) else f" --data {data}"
    return (
        f"`mocobench pretrain --recipe {run['recipe']} --scale {scale} --seed {int(run['seed'])}"
        f" --out {run['run_dir']}{data_opt} --resume`"
    )


def _detect(run_dir: Path, trials: int) -> str:
    """The command that fine-tunes VOC trials 0..trials-1 of one model (those done are skipped)."""
    return f"`mocobench detect-voc --pretrained {run_dir}{f' --trials {trials}' if trials > 1 else ''}`"


def _evaluations(steps: Sequence[Step]) -> str:
    """The commands of one model's evaluations still to run (`steps`: its linear and VOC steps)."""
    commands = [f"`mocobench linear --pretrained {s.run_dir}`" for s in steps if s.kind == "linear"]
    voc = [s.trial for s in steps if s.kind == "voc"]
    if voc:
        commands.append(_detect(steps[0].run_dir, max(voc) + 1))
    return " and ".join(commands)


def row_notes(n: int, row: Row, scale: str, runs: pd.DataFrame, runs_dir: str, show_voc: bool) -> list[str]:
    """What one row lacks at `scale`, and the commands that fill it: the plan's steps to run (`row.steps`),
    described from the row's `runs` in the store; VOC steps only once `show_voc` (some row has VOC)."""
    if not row.recipe:
        add = f"`[[paper]] table = {n}, row = {row.label!r}`"
        return [f"{row.label}: no recipe names this paper row; add {add} to one"]
    label, recipe = f"{row.label} (recipe `{row.recipe}`)", row.recipe
    pretrain = [s for s in row.steps if s.kind == "pretrain"]
    done = [s.run_dir for s in pretrain if s.state == "done"]
    todo = {
        s.run_dir: [t for t in row.steps if t.run_dir == s.run_dir and t.state == "run"] for s in pretrain
    }
    notes = []
    for step in pretrain:
        evaluations = _evaluations([s for s in todo[step.run_dir] if s.kind != "pretrain"])
        if step.state == "run":
            custom = runs_dir != layout.DEFAULT_RUNS  # the default store needs no --runs / --out
            runs_opt, out_opt = (f" --runs {runs_dir}", f" --out {step.run_dir}") if custom else ("", "")
            reproduce = f"mocobench reproduce table {n} --scale {scale}{runs_opt}"
            text = (
                f"{label}: no finished run at scale {scale}: `{reproduce}` fills it, "
                f"or `mocobench pretrain --recipe {recipe} --scale {scale}{out_opt}` then {evaluations}"
            )
            notes.append(FillNote(text, row.label, n, scale, reproduce))
        elif step.state == "resume":
            run = runs[runs["run_dir"] == str(step.run_dir)].iloc[0]
            lead = f"{label}: no finished run at scale {scale}; " if not done else f"{label}: "
            progress = f"{int(run['epochs_done'])} of {int(run['epochs'])} epochs"
            notes.append(
                f"{lead}{step.run_dir} is unfinished ({progress}; it may still be training): once its "
                f"process has stopped, {_resume_command(run, scale)} continues it, then {evaluations}"
            )
    unscored = [d for d in done if any(s.kind == "linear" for s in todo[d])]
    if unscored:
        commands = ", ".join(f"`mocobench linear --pretrained {d}`" for d in unscored)
        listed = ", ".join(str(d) for d in unscored)
        notes.append(f"{label}: no linear top-1 at scale {scale} for {listed}: run {commands}")
    voc_done = {s.run_dir for s in row.steps if s.kind == "voc" and s.state == "done"}
    missing = [d for d in done if d not in voc_done and any(s.kind == "voc" for s in todo[d])]
    if show_voc and missing:
        trials = {d: max(s.trial for s in todo[d] if s.kind == "voc") + 1 for d in missing}
        commands = ", ".join(_detect(d, trials[d]) for d in missing)
        listed = ", ".join(str(d) for d in missing)
        notes.append(f"{label}: no VOC result at scale {scale} for {listed}: run {commands}")
    return notes


def table_notes(n: int, scale: str, rows: Sequence[Row], has_voc: bool = True) -> list[str]:
    """What the whole table says: partial or not, what kNN is, the VOC columns, the paper rows' own notes."""
    notes = []
    empty = [r.label for r in rows if r.top1.n == 0]
    if len(empty) == len(rows):
        notes.append(
            f"Partial table: none of the {len(rows)} rows has a linear top-1 at scale {scale} yet; "
            f"every cell of ours shows '{MISSING}' and the notes below say how to fill them."
        )
    elif empty:
        notes.append(
            f"Partial table: {len(empty)} of {len(rows)} rows have no linear top-1 at scale {scale} yet "
            f"({'; '.join(empty)}); their cells show '{MISSING}' and the notes below say how to fill them."
        )
    else:
        notes.append(f"Every row has a linear top-1 at scale {scale}.")
    notes.append(
        "kNN top-1 is the pre-training monitor (kNN on frozen features at the end of pre-training), "
        "not the paper's metric; the comparison with the paper is the linear top-1."
    )
    if n == 1 and not has_voc:
        notes.append(
            f"VOC columns: none at scale {scale} (recipes/scales.toml has no [{scale}.detection]: its "
            "encoders have no Detectron2 counterpart); the paper's VOC figures are in table1.csv."
        )
    elif n == 1:
        if sum(r.voc_n for r in rows) == 0:
            notes.append(VOC_NOT_YET)
        elif any(r.voc_n == 0 for r in rows):
            empty_voc = "; ".join(r.label for r in rows if r.voc_n == 0)
            notes.append(
                f"VOC columns are partial: no detection result at scale {scale} for {empty_voc}; "
                "`mocobench detect-voc --pretrained RUN` fills a row's cells."
            )
    labels = {r.label for r in rows}
    notes += [text for row, text in paper_row_notes(n) if row in labels]
    return notes


def pipeline_notes(used: list[tuple[str, pd.DataFrame]]) -> list[str]:
    """Which input pipeline and precision made each row's figures (`--pipeline`, config.json's record)."""
    by_pipeline: dict[str, list[str]] = {}
    for row, runs in used:
        if "pipeline" not in runs:
            continue
        for text in sorted({t for t in runs["pipeline"] if isinstance(t, str) and t}):
            by_pipeline.setdefault(describe(json.loads(text)), []).append(row)
    if not by_pipeline:
        return []
    if len(by_pipeline) == 1:
        return [f"Input pipeline and precision of every run shown: {next(iter(by_pipeline))}."]
    parts = [f"{desc} ({', '.join(rows)})" for desc, rows in by_pipeline.items()]
    return ["Input pipelines and precision, by row: " + "; ".join(parts) + "."]


def protocol_notes(protocols: dict[str, list[str]]) -> list[str]:
    """Which linear protocol scored which rows (`linear_protocol` of each row's recipe)."""
    if len(protocols) == 1:
        name = next(iter(protocols))
        return [
            f"Linear top-1 of every row by protocol `{name}` ({protocol_title(name)}, recipes/{name}.toml)."
        ]
    parts = [
        f"`{name}` ({protocol_title(name)}, recipes/{name}.toml) for {', '.join(rows)}"
        for name, rows in protocols.items()
    ]
    return ["Linear top-1 by protocol, as each row's authors scored it: " + "; ".join(parts) + "."]


def random_init_notes(n: int, scale: str, results: pd.DataFrame, runs_dir: str) -> list[str]:
    """Table 1's floor: detection from a randomly initialised backbone (`detect-voc --pretrained random`),
    from the store's VOC results in `<runs>/<scale>/random-init/<arch>/`."""
    if n != 1:
        return []
    notes = []
    voc = results[(results["kind"] == "voc") & (results["scale"] == scale)]
    for folder, trials in sorted(voc.groupby("run_dir"), key=lambda item: str(item[0])):
        arch = layout.random_init_arch(Path(folder), scale, Path(runs_dir))
        if arch is None:
            continue
        figures = ", ".join(
            f"{m} {format_figure(*stats(trials[trials['metric'] == m]['value']))}"
            for m in ("AP50", "AP", "AP75")
        )
        notes.append(
            f"Reference, not a paper row: detection from a randomly initialised {arch_name(arch)} "
            f"at scale {scale}: VOC {figures} ({Path(folder) / layout.VOC})."
        )
    return notes


def warning(scale: str, compute: Sequence[Compute], data: Sequence[str], described: Sequence[str]) -> str:
    """The caveat of a non-paper scale: what ran, on what (the caveats' line says only orderings compare)."""
    if scale == "paper":
        return ""
    if compute:
        archs = sorted({arch_name(c.arch) for c in compute})
        sizes = sorted({int(c.image_size) for c in compute})
        what = f"{'/'.join(archs)} at {'/'.join(str(s) for s in sizes)} px"
    else:
        what = f"scale {scale}"
    if data and all(is_embedded(d) for d in data):
        on = "the embedded generated shapes dataset"
    elif described:
        on = ", ".join(described)
    else:
        on = "the scale's default data (no run yet)"
    return (
        f"These are {scale}-scale numbers ({what} on {on}), not comparable in absolute value to the paper's "
        "ImageNet figures."
    )


def scale_caveats(scale: str, pipeline_check: bool, orderings: bool = True) -> list[str]:
    """The header lines of a non-paper table: orderings only (a paper table); at smoke, not a result."""
    if scale == "paper":
        return []
    if pipeline_check:
        return [COMPARE_ORDERINGS, PIPELINE_CHECK] if orderings else [PIPELINE_CHECK_DEMO]
    return [COMPARE_ORDERINGS] if orderings else []


def num_classes(data: str) -> int | None:
    """Classes of a run's data: its `train/` class folders where the folder is on this machine, else the
    embedded set's when the path is that set's default cache; None when unknown."""
    if not str(data):
        return None
    root = Path(str(data))
    train = root / "train"
    if train.is_dir():
        count = sum(1 for p in train.iterdir() if p.is_dir())
        return count or None
    default = SynthSpec()
    return default.num_classes if root.name == f"shapes-{default.key()}" else None


def classes_of(runs: pd.DataFrame) -> int | None:
    """The one number of classes of the runs' data (a `num_classes` column wins), or None if unknown or
    mixed."""
    found: set[int | None] = set()
    for _, run in runs.iterrows():
        recorded = run.get("num_classes", math.nan)
        if not pd.isna(recorded) and int(recorded) > 0:
            found.add(int(recorded))
        elif isinstance(run.get("data"), str) and run["data"]:
            found.add(num_classes(run["data"]))  # a run from before config.json recorded its classes
    return found.pop() if len(found) == 1 and None not in found else None


def _nan(x: float) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def learning_lines(
    rows: Sequence[tuple[str, float, float, float]], classes: int | None, scale: str
) -> tuple[list[str], list[str]]:
    """(header lines, notes) on whether the rows learned anything in their budget.

    `rows` holds (label, linear top-1 mean, final kNN mean, kNN-at-random-init mean), NaN where missing.
    Rule: a row shows no learning when its linear top-1 is within LEARN_MARGIN points of chance
    (100 / classes) or its final kNN is not above its kNN at random initialisation. When every row with a
    figure shows none, the table says so in its header; when some do, a note names them.
    """
    chance = 100.0 / classes if classes else math.nan
    judged, failed = [], []
    for label, linear, knn, init in rows:
        has_knn = not (_nan(knn) or _nan(init))
        if _nan(linear) and not has_knn:
            continue
        judged.append(label)
        why = []
        if not _nan(linear) and not _nan(chance) and linear <= chance + LEARN_MARGIN:
            why.append(f"linear top-1 {linear:.1f}")
        if has_knn and knn <= init:
            why.append(f"final kNN {knn:.1f} ≤ {init:.1f} at random init")
        if why:
            failed.append(f"{label}: {', '.join(why)}")
    if not failed:
        return [], []
    of_chance = (
        f"chance {chance:.1f}%: {classes} classes" if classes else "classes unknown: chance not checked"
    )
    rule = (
        f"Rule: a row shows no learning when its linear top-1 is within {LEARN_MARGIN:g} points of chance "
        "(100 / classes) or its final kNN is not above its kNN at random initialisation."
    )
    figures = "; ".join(failed)
    if len(failed) == len(judged):
        return [
            f"**This tier cannot learn in its budget**: no row shows learning at scale {scale}: {figures} "
            f"({of_chance}). {rule}"
        ], []
    return [], [f"No learning shown at scale {scale} by {figures} ({of_chance}). {rule}"]


def blur_notes(n: int, blur: Sequence[tuple[int, Sequence[float]]]) -> list[str]:
    """Table 1's aug+ rows are about the blur and the stronger jitter; at a small crop the blur vanishes.

    `blur` holds (image_size, blur_sigma at 224 px) of each aug+ run shown; the sigma in px follows
    `augment.spec.blur_sigma_px` (config.scales: a sigma below 0.5 px leaves a view nearly unchanged).
    """
    if n != 1 or not blur:
        return []
    px = [blur_sigma_px(sigma, size) for size, sigma in blur]
    lo, hi = min(p[0] for p in px), max(p[1] for p in px)
    if hi >= BLUR_TOO_SMALL_PX:
        return []
    sizes = "/".join(str(s) for s in sorted({int(size) for size, _ in blur}))
    rows = "/".join(AUG_PLUS_ROWS)
    return [
        f"blur sigma {lo:.2f}-{hi:.2f} px at {sizes} px is too small to matter (below {BLUR_TOO_SMALL_PX:g} "
        f"px): rows {rows} test mostly the jitter change (p 0.8, hue 0.1)."
    ]

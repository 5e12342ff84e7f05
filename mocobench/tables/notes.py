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
from mocobench.config.scales import BLUR_TOO_SMALL_PX, voc_trials
from mocobench.data.synth import SynthSpec
from mocobench.results import layout
from mocobench.tables.format import MISSING, VOC_METRICS, arch_name, format_figure, is_embedded, stats
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
LEARN_MARGIN = 5.0  # points above chance (100 / classes) that a linear top-1 must clear to count as learning
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


def _detect(run_dir: str, scale: str) -> str:
    """The command that fine-tunes the tier's VOC trials of one model (`voc_trials`, 5 at paper scale)."""
    trials = voc_trials(scale)
    return f"`mocobench detect-voc --pretrained {run_dir}{f' --trials {trials}' if trials > 1 else ''}`"


def _evaluations(n: int, run_dir: str, scale: str, has_voc: bool = True) -> str:
    """The commands that score a finished run for table `n` (Table 1 at a scale with VOC: detection too)."""
    linear = f"`mocobench linear --pretrained {run_dir}`"
    return f"{linear} and {_detect(run_dir, scale)}" if n == 1 and has_voc else linear


def row_notes(
    n: int,
    row: str,
    recipe: str,
    scale: str,
    at_scale: pd.DataFrame,
    top1: pd.DataFrame,
    runs_dir: str,
    voc: pd.DataFrame | None = None,
    has_voc: bool = True,
) -> list[str]:
    """What one row lacks at `scale`, and the commands that fill it."""
    if not recipe:
        return [f"{row}: no recipe names this paper row; add `[[paper]] table = {n}, row = {row!r}` to one"]
    label = f"{row} (recipe `{recipe}`)"
    notes = []
    done = at_scale[at_scale["finished"]]
    unfinished = at_scale[~at_scale["finished"]]
    if done.empty and unfinished.empty:
        custom = runs_dir != layout.DEFAULT_RUNS  # the default store needs no --runs / --out
        run_dir = str(layout.run_dir(scale, recipe, 0, Path(runs_dir)))
        runs_opt, out_opt = (f" --runs {runs_dir}", f" --out {run_dir}") if custom else ("", "")
        reproduce = f"mocobench reproduce table {n} --scale {scale}{runs_opt}"
        text = (
            f"{label}: no finished run at scale {scale}: `{reproduce}` fills it, "
            f"or `mocobench pretrain --recipe {recipe} --scale {scale}{out_opt}` "
            f"then {_evaluations(n, run_dir, scale, has_voc)}"
        )
        notes.append(FillNote(text, row, n, scale, reproduce))
    for _, run in unfinished.iterrows():
        lead = f"{label}: no finished run at scale {scale}; " if done.empty else f"{label}: "
        run_dir = run["run_dir"]
        progress = f"{int(run['epochs_done'])} of {int(run['epochs'])} epochs"
        notes.append(
            f"{lead}{run_dir} is unfinished ({progress}; it may still be training): once its process "
            f"has stopped, {_resume_command(run, scale)} continues it, "
            f"then {_evaluations(n, run_dir, scale, has_voc)}"
        )
    unscored = [d for d in done["run_dir"] if d not in set(top1["run_dir"])]
    if unscored:
        commands = ", ".join(f"`mocobench linear --pretrained {d}`" for d in unscored)
        notes.append(f"{label}: no linear top-1 at scale {scale} for {', '.join(unscored)}: run {commands}")
    if voc is not None:  # a Table 1 row with VOC figures in the paper
        missing = [d for d in done["run_dir"] if d not in set(voc["run_dir"])]
        if missing:
            commands = ", ".join(_detect(d, scale) for d in missing)
            notes.append(f"{label}: no VOC result at scale {scale} for {', '.join(missing)}: run {commands}")
    return notes


def table_notes(n: int, scale: str, frame: pd.DataFrame, has_voc: bool = True) -> list[str]:
    """What the whole table says: partial or not, what kNN is, the VOC columns, the paper rows' own notes."""
    notes = []
    empty = frame[frame["top1_n"] == 0]["row"].tolist()
    if len(empty) == len(frame):
        notes.append(
            f"Partial table: none of the {len(frame)} rows has a linear top-1 at scale {scale} yet; "
            f"every cell of ours shows '{MISSING}' and the notes below say how to fill them."
        )
    elif empty:
        notes.append(
            f"Partial table: {len(empty)} of {len(frame)} rows have no linear top-1 at scale {scale} yet "
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
        voc_n = frame[[f"{p}_n" for p, _, _ in VOC_METRICS]].sum(axis=1)
        if int(voc_n.sum()) == 0:
            notes.append(VOC_NOT_YET)
        elif (voc_n == 0).any():
            rows = "; ".join(frame[voc_n == 0]["row"])
            notes.append(
                f"VOC columns are partial: no detection result at scale {scale} for {rows}; "
                "`mocobench detect-voc --pretrained RUN` fills a row's cells."
            )
    rows = set(frame["row"])
    notes += [text for row, text in paper_row_notes(n) if row in rows]
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


def warning(scale: str, compute: list[dict], data: list[str], described: list[str]) -> str:
    """The caveat of a non-paper scale: what ran, on what (the caveats' line says only orderings compare)."""
    if scale == "paper":
        return ""
    if compute:
        archs = sorted({arch_name(str(c["arch"])) for c in compute})
        sizes = sorted({int(c["image_size"]) for c in compute})
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

"""The notes under a reproduced table: what is partial, which command fills each gap, and the caveats.

Every note is a function of the result store and the repo's data (the paper rows' own notes are
`tables/paper/notes.toml`), so a table's notes change only when its runs or results do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mocobench.config.linear import protocol_title
from mocobench.config.paper import paper_row_notes
from mocobench.results import layout
from mocobench.tables.format import MISSING, VOC_METRICS, arch_name, format_figure, is_embedded, stats
from mocobench.train.pipelines import describe

VOC_NOT_YET = (
    "VOC columns: no detection result at this scale yet; `mocobench detect-voc --pretrained RUN` fills a "
    "row's cells (`mocobench reproduce table 1` runs it for every row)."
)


def _resume_command(run: pd.Series, scale: str) -> str:
    data = str(run.get("data", "") or "")
    data_opt = "" if not data or is_embedded(data) else f" --data {data}"
    return (
        f"`mocobench pretrain --recipe {run['recipe']} --scale {scale} --seed {int(run['seed'])}"
        f" --out {run['run_dir']}{data_opt} --resume`"
    )


def _evaluations(n: int, run_dir: str) -> str:
    """The commands that score a finished run for table `n`."""
    linear = f"`mocobench linear --pretrained {run_dir}`"
    return f"{linear} and `mocobench detect-voc --pretrained {run_dir}`" if n == 1 else linear


def row_notes(
    n: int,
    row: str,
    recipe: str,
    scale: str,
    at_scale: pd.DataFrame,
    top1: pd.DataFrame,
    runs_dir: str,
    voc: pd.DataFrame | None = None,
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
        notes.append(
            f"{label}: no finished run at scale {scale}: "
            f"`mocobench reproduce table {n} --scale {scale}{runs_opt}` fills it, "
            f"or `mocobench pretrain --recipe {recipe} --scale {scale}{out_opt}` "
            f"then {_evaluations(n, run_dir)}"
        )
    for _, run in unfinished.iterrows():
        lead = f"{label}: no finished run at scale {scale}; " if done.empty else f"{label}: "
        run_dir = run["run_dir"]
        progress = f"{int(run['epochs_done'])} of {int(run['epochs'])} epochs"
        notes.append(
            f"{lead}{run_dir} is unfinished ({progress}; it may still be training): once its process "
            f"has stopped, {_resume_command(run, scale)} continues it, "
            f"then {_evaluations(n, run_dir)}"
        )
    unscored = [d for d in done["run_dir"] if d not in set(top1["run_dir"])]
    if unscored:
        commands = ", ".join(f"`mocobench linear --pretrained {d}`" for d in unscored)
        notes.append(f"{label}: no linear top-1 at scale {scale} for {', '.join(unscored)}: run {commands}")
    if voc is not None:  # a Table 1 row with VOC figures in the paper
        missing = [d for d in done["run_dir"] if d not in set(voc["run_dir"])]
        if missing:
            commands = ", ".join(f"`mocobench detect-voc --pretrained {d}`" for d in missing)
            notes.append(f"{label}: no VOC result at scale {scale} for {', '.join(missing)}: run {commands}")
    return notes


def table_notes(n: int, scale: str, frame: pd.DataFrame) -> list[str]:
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
    if n == 1:
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
    """The caveat of a non-paper scale: what ran, on what, and that only orderings compare."""
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
        f"These are {scale}-scale numbers ({what} on {on}) — not comparable in absolute value to the "
        "paper's ImageNet figures; compare orderings only."
    )

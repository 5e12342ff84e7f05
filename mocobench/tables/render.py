"""Write an assembled table as CSV (the numbers), Markdown (for people) and PNG (paper vs ours), or Rich.

File names: `table1.csv/.md/.png` at paper scale, `table1_<scale>.*` otherwise, so a cpu-tier table never
overwrites (or passes for) a paper-scale one; below the paper's compute (except at smoke) the verdicts on the
paper's orderings go beside it as `table1_<scale>_orderings.csv`. Every file is written atomically.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd
from rich.table import Table
from rich.text import Text

from mocobench.runtime import atomic
from mocobench.tables.assemble import TableResult
from mocobench.tables.curves import knn_curves_png
from mocobench.tables.format import MISSING, VOC_METRICS, format_figure, format_paper, tick
from mocobench.tables.notes import display_notes
from mocobench.tables.orderings import NO_VERDICTS_AT_SMOKE, display_verdicts, rule_text, verdict_frame
from mocobench.tables.rows import LinearProtocol


def display_frame(result: TableResult) -> pd.DataFrame:
    """The table as strings for Markdown and the terminal: each paper figure beside ours."""
    rows = []
    for _, r in result.frame.iterrows():
        out = {"row": r["row"], "recipe": r["recipe"] or MISSING}
        out.update({"MLP": tick(r["mlp"]), "aug+": tick(r["aug_plus"]), "cos": tick(r["cos"])})
        out["epochs"] = MISSING if pd.isna(r["epochs"]) else str(int(r["epochs"]))
        if "batch" in r:
            out["batch"] = MISSING if pd.isna(r["batch"]) else str(int(r["batch"]))
        out["paper top-1"] = format_paper(r["paper_top1"])
        out[f"ours linear top-1 ({result.scale})"] = format_figure(r["top1_mean"], r["top1_std"], r["top1_n"])
        out["seeds"] = str(int(r["seeds"])) if r["seeds"] else MISSING
        out["ours kNN top-1 (pre-training monitor)"] = format_figure(r["knn_mean"], r["knn_std"], r["knn_n"])
        out["learns"] = r["learns"]  # tables/learning.py: kNN against random init, linear against chance
        if result.number == 1 and result.header.has_voc:
            for prefix, metric, _ in VOC_METRICS:
                out[f"paper VOC {metric}"] = format_paper(r[f"paper_{prefix}"])
                out[f"ours VOC {metric}"] = format_figure(
                    r[f"{prefix}_mean"], r[f"{prefix}_std"], r[f"{prefix}_n"]
                )
        rows.append(out)
    return pd.DataFrame(rows, dtype=str)


def write_table(result: TableResult, out_dir: Path) -> list[Path]:
    """Write `<stem>.csv`, `<stem>.md`, `<stem>.png` and, where verdicts are given, `<stem>_orderings.csv`
    into `out_dir`; returns the paths."""
    out_dir = Path(out_dir)
    csv_path = atomic.write_text(out_dir / f"{result.stem}.csv", result.frame.to_csv(index=False))
    md_path = atomic.write_text(out_dir / f"{result.stem}.md", markdown(result))
    png_path = atomic.write_bytes(out_dir / f"{result.stem}.png", png_bytes(result))
    paths = [csv_path, md_path, png_path]
    curves = [(r.label, r.learns.verdict, r.knn_curve) for r in result.rows if r.knn_curve]
    if curves:  # how each row's kNN moved from its random init, epoch by epoch, beside the table
        title = f"Table {result.number} at scale {result.scale}: kNN top-1 per epoch (mean over seeds)"
        paths.append(atomic.write_bytes(out_dir / f"{result.stem}_knn.png", knn_curves_png(title, curves)))
    if result.header.orderings == "verdicts":
        frame = verdict_frame(result.verdicts).to_csv(index=False)
        paths.append(atomic.write_text(out_dir / f"{result.stem}_orderings.csv", frame))
    return paths


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(frame: pd.DataFrame) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(c) for c in frame.columns) + " |"]
    lines.append("|" + "---|" * len(frame.columns))
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
    return lines


def _hours(seconds: float | None) -> str:
    return MISSING if seconds is None or math.isnan(seconds) else f"{seconds / 3600:.2f}"


def linear_line(p: LinearProtocol, count: int) -> str:
    """One linear protocol in a table header: its schedule, and which rows it scores when there are two."""
    if p.cos:
        decay = ", cosine"
    else:
        milestones = ", ".join(str(m) for m in p.schedule)
        decay = f" (x0.1 at epochs {milestones})" if milestones else ""
    extra = ", Nesterov" if p.nesterov else ""
    extra += f", wd {p.weight_decay:g}" if p.weight_decay else ""
    rows = "every row" if count == 1 else ", ".join(p.rows)
    return (
        f"**Linear protocol `{p.name}`** ({rows}; frozen backbone, recipes/{p.name}.toml): {p.epochs} "
        f"epochs, batch {p.batch_size}, lr {p.lr:g}{decay}{extra}, {p.image_size} px."
    )


def header_lines(result: TableResult) -> list[str]:
    """The paragraph above the table: scale and warning, protocol, hardware, data, commits."""
    header = result.header
    scale_line = f"**Scale {result.scale}**: {header.scale_description}"
    if header.warning:
        scale_line += f" **{header.warning}**"
    protocols = header.linear_protocols
    lines = [linear_line(p, len(protocols)) for p in protocols]
    protocol = "  \n".join(lines) or "**Linear protocol**: unknown."
    voc = header.voc_protocol
    if voc:
        sizes = voc.min_size_train
        cap = f", first {voc.max_test_images} test images" if voc.max_test_images else ""
        steps = ", ".join(str(s) for s in voc.steps)
        protocol += (
            f"  \n**VOC protocol** (Table 1's VOC columns): Faster R-CNN C4 through Detectron2 "
            f"(recipes/detection.yaml), {voc.max_iter} iterations x {voc.ims_per_batch} images, "
            f"lr {voc.base_lr:g} (x0.1 at {steps}), train {sizes[0]}-{sizes[-1]} px, test "
            f"{voc.min_size_test} px; 07+12 trainval -> 07 test{cap}; VOC2007 11-point AP, mean over "
            "seeds x trials, ± the std over trials of one model (the notes: each row's seeds, trials and "
            "seed spread)."
        )
    pre = "; ".join(header.hardware_pretrain) or "none yet"
    ev = "; ".join(header.hardware_evaluation) or "none yet"
    commits = ", ".join(header.commits) or "none recorded"
    if header.runs_without_commit:
        commits += f" ({header.runs_without_commit} runs without a recorded commit)"
    return [
        scale_line,
        *header.caveats,
        protocol,
        f"**Hardware**: pre-training: {pre}; evaluation: {ev}.",
        f"**Data**: {'; '.join(header.data) or 'no run yet'}.",
        f"**mocobench commits**: {commits}.",
    ]


def markdown(result: TableResult) -> str:
    lines = [f"# {result.header.title}", ""]
    lines.append("  \n".join(header_lines(result)))
    lines += ["", *_md_table(display_frame(result)), ""]
    lines += orderings_markdown(result)
    if result.notes:
        lines += ["## Notes", ""]
        lines += [f"- {note}" for note in display_notes(result.notes)]
        lines.append("")
    compute = [(row, row.compute) for row in result.rows if row.compute]
    if compute:
        lines += [f"## Pre-training per row at scale {result.scale}", ""]
        per_row = pd.DataFrame(
            [
                {
                    "row": row.label,
                    "recipe": row.recipe,
                    "arch": c.arch,
                    "px": c.image_size,
                    "epochs": c.epochs,
                    "batch": c.batch_size,
                    "lr": f"{c.lr:g}",
                    "finished runs": c.finished_runs,
                    "pre-training hours": _hours(c.pretrain_seconds),
                }
                for row, c in compute
            ]
        )
        lines += [*_md_table(per_row), ""]
    return "\n".join(lines)


def orderings_markdown(result: TableResult) -> list[str]:
    """The `## Orderings` section: the paper's significant pairs and our verdict on each (none at paper
    scale; at smoke one line, as its figures are a pipeline check)."""
    state = result.header.orderings
    if not state:
        return []
    lines = [f"## Orderings: the paper's significant pairs at scale {result.scale}", ""]
    if state == "smoke":
        return [*lines, f"{NO_VERDICTS_AT_SMOKE}: its figures are a pipeline check, not a result.", ""]
    counts = {
        v: sum(1 for x in result.verdicts if x.verdict == v) for v in ("held", "not held", "not resolved")
    }
    summary = ", ".join(f"{c} {v}" for v, c in counts.items())
    return [*lines, f"{summary}. {rule_text()}", "", *_md_table(display_verdicts(result.verdicts)), ""]


def png_bytes(result: TableResult) -> bytes:
    """Two panels sharing the row labels: the paper's top-1 (left) and ours (right), never on one axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = result.frame
    labels = list(frame["row"])
    ys = list(range(len(labels)))
    fig, (left, right) = plt.subplots(
        1, 2, sharey=True, figsize=(11, 1.6 + 0.45 * len(labels)), constrained_layout=True
    )
    try:
        paper = frame["paper_top1"].astype(float)
        left.barh(ys, paper.fillna(0.0), color="#8c8c8c")
        for y, v in zip(ys, paper, strict=True):
            left.text(0 if pd.isna(v) else v, y, f" {MISSING}" if pd.isna(v) else f" {v:.1f}", va="center")
        left.set_xlim(0, max(100.0, float(paper.max(skipna=True) or 0) * 1.15))
        left.set_title("paper: ImageNet top-1 (%)")
        left.set_yticks(ys, labels)
        left.invert_yaxis()

        mean = frame["top1_mean"].astype(float)
        std = frame["top1_std"].astype(float).fillna(0.0)
        right.barh(ys, mean.fillna(0.0), xerr=std, color="#1f77b4", capsize=3)
        top = float((mean + std).max(skipna=True)) if mean.notna().any() else 0.0
        width = max(top * 1.3, 1.0)
        for y, m, s, n, runs in zip(ys, mean, std, frame["top1_n"], frame["runs_finished"], strict=True):
            if pd.isna(m):
                right.text(
                    0, y, " no run" if runs == 0 else " no linear result", va="center", color="#b22222"
                )
            else:
                right.text(m + s + width * 0.01, y, f"{m:.1f} (n={int(n)})", va="center")
        right.set_xlim(0, width)
        right.set_title(f"ours: linear top-1 at scale {result.scale} (%, error bar = std)")
        title = f"Table {result.number} (MoCo v2 paper) at scale {result.scale}: paper vs ours"
        if result.scale != "paper":
            title += " — separate axes, absolute values not comparable"
        fig.suptitle(title)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    return buf.getvalue()


TERMINAL_WIDTH = 100  # the terminal's tables fit this many columns unless `--wide` (the files keep all)
# The columns the terminal shows without --wide: the row, what it is, the paper's figure beside ours, and
# Table 1's VOC AP50 (the paper's headline detection figure). The knobs are in the row label and the recipe.
NARROW_COLUMNS = ("row", "recipe", "batch", "paper top-1", "ours linear top-1", "seeds")
NARROW_VOC = ("paper VOC AP50", "ours VOC AP50")
SHORT_HEADERS = {"paper VOC AP50": "paper AP50", "ours VOC AP50": "ours AP50"}


def _short(column: str) -> str:
    """A narrow column's header: `ours linear top-1 (cpu)` -> `ours top-1 (cpu)`."""
    return SHORT_HEADERS.get(column, column.replace("ours linear top-1", "ours top-1"))


def narrow_columns(columns: list[str]) -> list[str]:
    """The columns of `display_frame` the terminal shows without --wide, in their order."""
    return [c for c in columns if c in NARROW_VOC or any(c.split(" (")[0] == k for k in NARROW_COLUMNS)]


def rich_table(result: TableResult, wide: bool = False) -> Table:
    """The table for the terminal (the Markdown's cells; without `wide` the `narrow_columns`, which fit
    `TERMINAL_WIDTH`); notes are printed by the caller."""
    shown = display_frame(result)
    if not wide:
        hidden = [c for c in shown.columns if c not in narrow_columns(list(shown.columns))]
        shown = shown[narrow_columns(list(shown.columns))].rename(columns=_short)
        hidden = [c.replace("ours kNN top-1 (pre-training monitor)", "ours kNN top-1") for c in hidden]
    caption = [
        result.header.warning,
        *(c.replace("**", "") for c in result.header.caveats),
    ]
    if not wide and hidden:
        shown_all = "mocobench table --wide; the .md and .csv have every column"
        caption.append(f"Not shown here: {', '.join(hidden)} ({shown_all}).")
    table = Table(
        title=result.header.title,
        caption=Text("\n".join(c for c in caption if c)) if any(caption) else None,
    )
    for col in shown.columns:
        labels = col in ("row", "recipe")
        longest = max([len(str(v)) for v in shown[col]] or [0]) if labels and not wide else None
        table.add_column(col, justify="left" if labels else "right", overflow="fold", width=longest)
    for _, row in shown.iterrows():
        table.add_row(*(Text(str(v)) for v in row))
    return table


NARROW_VERDICT_COLUMNS = ("pair (A → B)", "metric", "paper A → B (gap)", "ours gap ± SE", "verdict")


def rich_orderings(result: TableResult, wide: bool = False) -> Table | str | None:
    """The verdicts for the terminal (the Markdown's cells; without `wide` the `NARROW_VERDICT_COLUMNS`,
    which fit `TERMINAL_WIDTH`), the smoke line, or None at paper scale."""
    state = result.header.orderings
    if state == "smoke":
        return f"Orderings: {NO_VERDICTS_AT_SMOKE} (its figures are a pipeline check, not a result)."
    if not state:
        return None
    shown = display_verdicts(result.verdicts)
    caption = None
    if not wide:
        hidden = [c for c in shown.columns if c not in NARROW_VERDICT_COLUMNS]
        shown = shown[[c for c in shown.columns if c in NARROW_VERDICT_COLUMNS]]
        caption = f"Not shown here: {', '.join(hidden)} (mocobench table --wide; the _orderings.csv has all)."
    table = Table(
        title=f"Orderings: the paper's significant pairs at scale {result.scale}",
        caption=caption if caption and hidden else None,
    )
    for col in shown.columns:
        table.add_column(col, overflow="fold")
    for _, row in shown.iterrows():
        table.add_row(*(Text(str(v)) for v in row))
    return table

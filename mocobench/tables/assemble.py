"""Tables 1 and 2 at a scale: the paper's figure beside ours (mean, std and count over runs x trials).

`build_table` is a pure function of the result store (`mocobench.results.store.collect`) and the repo's
data (paper CSVs, recipes, scales): nothing depends on the clock or on file times. Each paper row maps to
the recipe whose `[[paper]]` names it; ours are the linear top-1 figures of that recipe's finished runs at
the scale, scored with the linear protocol at the same scale. A row without figures shows `-` and the notes
say which command fills it; a table with such a row says plainly that it is partial.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mocobench.config.linear import resolve_linear
from mocobench.config.recipes import all_recipes, resolve, scale_rules
from mocobench.errors import UsageError
from mocobench.tables.paper import load_paper_table

# Table 1's VOC metrics: (column prefix, the store's metric name, the paper CSV's column).
VOC_METRICS = (("ap50", "AP50", "voc_ap50"), ("ap", "AP", "voc_ap"), ("ap75", "AP75", "voc_ap75"))
KNOBS = {1: ("mlp", "aug_plus", "cos", "epochs"), 2: ("mlp", "aug_plus", "cos", "epochs", "batch")}
VOC_NOT_YET = (
    "VOC columns: no detection result at this scale yet; `mocobench detect-voc --pretrained RUN` fills a "
    "row's cells (`mocobench reproduce table 1` runs it for every row)."
)
MISSING = "-"


@dataclass
class TableResult:
    """One assembled table: `frame` is what goes to CSV; `notes` and `meta` go into the Markdown."""

    number: int
    scale: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """File name stem: `table1` at paper scale, `table1_mini` otherwise."""
        return f"table{self.number}" if self.scale == "paper" else f"table{self.number}_{self.scale}"

    @property
    def partial(self) -> bool:
        """True when some row has no linear top-1 of ours."""
        return bool((self.frame["top1_n"] == 0).any())


def recipes_for_table(n: int) -> dict[str, str]:
    """Paper row -> the recipe whose `[[paper]]` lists (table n, row)."""
    out: dict[str, str] = {}
    for name, recipe in all_recipes().items():
        for paper_row in recipe.rows:
            if paper_row.table == n:
                out[paper_row.row] = name
    return out


def describe_data(path: str) -> str:
    """A data path as a reader should see it: the generated shapes cache is named, not its temp path."""
    name = Path(str(path)).name
    if name.startswith("shapes-"):
        return f"embedded generated shapes dataset ({name})"
    return str(path)


def arch_name(arch: str) -> str:
    """`resnet18` -> `ResNet-18` (anything else unchanged)."""
    m = re.fullmatch(r"resnet(\d+)", arch)
    return f"ResNet-{m.group(1)}" if m else arch


def stats(values: pd.Series) -> tuple[float, float, int]:
    """Mean, sample std (ddof 1; NaN for fewer than 2) and count of the non-missing values."""
    vals = sorted(float(v) for v in values if not pd.isna(v))  # sorted: the order of the store never matters
    n = len(vals)
    if n == 0:
        return math.nan, math.nan, 0
    mean = math.fsum(vals) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else math.nan
    return mean, std, n


def _runs(store: Any) -> pd.DataFrame:
    runs = store.runs.copy()
    runs["finished"] = runs["finished"].astype("boolean").fillna(False).astype(bool)
    runs["scale"] = runs["scale"].astype(str)
    runs["recipe"] = runs["recipe"].astype(str)
    runs["run_dir"] = runs["run_dir"].astype(str)
    return runs.sort_values("run_dir", kind="stable")


def _results(store: Any) -> pd.DataFrame:
    results = store.results.copy()
    for col in ("run_dir", "kind", "metric", "scale"):
        results[col] = results[col].astype(str)
    return results


def _resume_command(run: pd.Series, scale: str) -> str:
    data = str(run.get("data", "") or "")
    data_opt = "" if not data or Path(data).name.startswith("shapes-") else f" --data {data}"
    return (
        f"`mocobench pretrain --recipe {run['recipe']} --scale {scale} --seed {int(run['seed'])}"
        f" --out {run['run_dir']}{data_opt} --resume`"
    )


def _paper_has_voc(prow: pd.Series) -> bool:
    return "voc_ap50" in prow and not pd.isna(prow["voc_ap50"])


def _evaluations(n: int, run_dir: str) -> str:
    """The commands that score a finished run for table `n`."""
    linear = f"`mocobench linear --pretrained {run_dir}`"
    return f"{linear} and `mocobench detect-voc --pretrained {run_dir}`" if n == 1 else linear


def _row_notes(
    n: int,
    row: str,
    recipe: str,
    scale: str,
    at_scale: pd.DataFrame,
    top1: pd.DataFrame,
    runs_dir: str,
    voc: pd.DataFrame | None = None,
) -> list:
    if not recipe:
        return [f"{row}: no recipe names this paper row; add `[[paper]] table = {n}, row = {row!r}` to one"]
    label = f"{row} (recipe `{recipe}`)"
    notes = []
    done = at_scale[at_scale["finished"]]
    unfinished = at_scale[~at_scale["finished"]]
    if done.empty and unfinished.empty:
        custom = runs_dir != "runs"  # the default store needs no --runs / --out
        run_dir = f"{runs_dir}/{scale}/{recipe}/seed0"
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


def build_table(n: int, store: Any, scale: str, runs_dir: str = "runs") -> TableResult:
    """Table `n` (1 or 2) at `scale` from `store` (with `.runs` and `.results`, see the module docstring);
    `runs_dir` is where the store was read, for the commands the notes suggest."""
    if n == 3:
        raise UsageError(
            "table 3 (memory and time) comes from `mocobench profile`, which is not available yet"
        )
    if n not in KNOBS:
        raise UsageError(f"no table {n} in the paper; use 1, 2 or 3")
    rules = scale_rules(scale)
    paper = load_paper_table(n)
    row_recipe = recipes_for_table(n)
    runs = _runs(store)
    results = _results(store)
    at_this_scale = results[results["scale"] == scale]

    records, notes, compute = [], [], []
    used_runs: list[pd.DataFrame] = []
    used_results: list[pd.DataFrame] = []
    for _, prow in paper.iterrows():
        row = str(prow["row"])
        recipe = row_recipe.get(row, "")
        at_scale = runs[(runs["recipe"] == recipe) & (runs["scale"] == scale)] if recipe else runs.iloc[:0]
        done = at_scale[at_scale["finished"]]
        res = at_this_scale[at_this_scale["run_dir"].isin(set(done["run_dir"]))]
        top1 = res[(res["kind"] == "linear") & (res["metric"] == "top1")]
        mean, std, count = stats(top1["value"])
        knn_mean, knn_std, knn_n = stats(done["knn_top1"])
        record: dict[str, Any] = {"row": row, "recipe": recipe}
        record.update({k: prow[k] for k in KNOBS[n]})
        record.update(
            {
                "paper_top1": float(prow["imagenet_top1"]),
                "top1_mean": mean,
                "top1_std": std,
                "top1_n": count,
                "seeds": int(done[done["run_dir"].isin(set(top1["run_dir"]))]["seed"].nunique()),
                "knn_mean": knn_mean,
                "knn_std": knn_std,
                "knn_n": knn_n,
                "runs_finished": len(done),
            }
        )
        voc = res[res["kind"] == "voc"]
        if n == 1:
            for prefix, metric, paper_col in VOC_METRICS:
                v_mean, v_std, v_n = stats(voc[voc["metric"] == metric]["value"])
                record.update(
                    {
                        f"paper_{prefix}": float(prow[paper_col]),
                        f"{prefix}_mean": v_mean,
                        f"{prefix}_std": v_std,
                        f"{prefix}_n": v_n,
                    }
                )
        records.append(record)
        used_runs.append(done)
        used_results.append(top1 if n == 2 else pd.concat([top1, voc]))
        # Per-row VOC notes once some row has VOC figures; before that one table note says how to start.
        any_voc = bool((at_this_scale["kind"] == "voc").any())
        row_voc = voc if n == 1 and any_voc and _paper_has_voc(prow) else None
        notes.extend(_row_notes(n, row, recipe, scale, at_scale, top1, str(runs_dir), row_voc))
        if recipe:
            cfg = resolve(recipe, scale)
            seconds = float(done["pretrain_seconds"].astype(float).sum()) if len(done) else None
            compute.append(
                {
                    "row": row,
                    "recipe": recipe,
                    **{k: cfg[k] for k in ("arch", "image_size", "epochs", "batch_size", "lr")},
                    "finished_runs": len(done),
                    "pretrain_seconds": seconds,
                }
            )

    frame = pd.DataFrame.from_records(records)
    for col in ("top1_n", "seeds", "knn_n", "runs_finished"):
        frame[col] = frame[col].astype(int)
    for col in ("epochs", "batch"):
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    if n == 1:
        for prefix, _, _ in VOC_METRICS:
            frame[f"{prefix}_n"] = frame[f"{prefix}_n"].astype(int)

    notes = _table_notes(n, scale, frame) + _random_init_notes(n, scale, Path(runs_dir)) + notes
    runs_used = pd.concat(used_runs).drop_duplicates("run_dir") if used_runs else runs.iloc[:0]
    results_used = pd.concat(used_results) if used_results else results.iloc[:0]
    meta = _meta(n, scale, rules, compute, runs_used, results_used)
    return TableResult(number=n, scale=scale, frame=frame, notes=notes, meta=meta)


def _table_notes(n: int, scale: str, frame: pd.DataFrame) -> list[str]:
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
        if "(a) T=0.07" in set(frame["row"]):
            notes.append(
                "(a) T=0.07: the paper gives this figure (62.9) in its text, not in Table 1; "
                "it has no VOC figures."
            )
        if "supervised" in set(frame["row"]):
            notes.append(
                "supervised: the paper's 76.5 is the supervised model's own ImageNet top-1; ours is the same "
                "linear protocol as every other row, on its frozen backbone."
            )
    return notes


def _random_init_notes(n: int, scale: str, runs_dir: Path) -> list[str]:
    """Table 1's floor: detection from a randomly initialised backbone (`detect-voc --pretrained random`)."""
    if n != 1:
        return []
    notes = []
    for path in sorted((runs_dir / scale / "random-init").glob("*/voc.json")):
        result = json.loads(path.read_text())
        if result.get("scale") != scale or not result.get("n"):
            continue
        figures = ", ".join(
            f"{m} {format_figure(result[m], result.get(f'{m}_std', 0.0), int(result['n']))}"
            for m in ("AP50", "AP", "AP75")
        )
        notes.append(
            f"Reference, not a paper row: detection from a randomly initialised {arch_name(result['arch'])} "
            f"at scale {scale}: VOC {figures} ({path})."
        )
    return notes


def voc_protocol(scale: str) -> dict[str, Any]:
    """Table 1's detection protocol at `scale`, for the header (read without Detectron2)."""
    from mocobench.detection.config import scaled_protocol

    p = scaled_protocol(scale)
    keys = ("max_iter", "ims_per_batch", "base_lr", "steps", "min_size_train", "min_size_test")
    return {**{k: p[k] for k in keys}, "max_test_images": p["max_test_images"]}


def _warning(scale: str, compute: list[dict], data: list[str], described: list[str]) -> str:
    if scale == "paper":
        return ""
    if compute:
        archs = sorted({arch_name(str(c["arch"])) for c in compute})
        sizes = sorted({int(c["image_size"]) for c in compute})
        what = f"{'/'.join(archs)} at {'/'.join(str(s) for s in sizes)} px"
    else:
        what = f"scale {scale}"
    if data and all(Path(d).name.startswith("shapes-") for d in data):
        on = "the embedded generated shapes dataset"
    elif described:
        on = ", ".join(described)
    else:
        on = "the scale's default data (no run yet)"
    return (
        f"These are {scale}-scale numbers ({what} on {on}) — not comparable in absolute value to the "
        "paper's ImageNet figures; compare orderings only."
    )


def _meta(
    n: int, scale: str, rules: dict, compute: list[dict], runs: pd.DataFrame, results: pd.DataFrame
) -> dict[str, Any]:
    linear = resolve_linear(scale)
    data = sorted({str(d) for d in runs["data"] if isinstance(d, str) and d})
    described = [describe_data(d) for d in data]
    pretrain_hw = sorted(
        {f"{dev}, world size {int(ws)}" for dev, ws in zip(runs["device"], runs["world_size"], strict=True)}
    )
    commits = sorted({str(c) for c in runs["commit"] if isinstance(c, str) and c})
    return {
        "table": n,
        "title": f"Table {n} (MoCo v2 paper) reproduced at scale {scale}",
        "scale": scale,
        "scale_description": str(rules.get("description", "")),
        "warning": _warning(scale, compute, data, described),
        "compute": compute,
        "linear_protocol": {
            k: linear[k]
            for k in ("epochs", "batch_size", "lr", "schedule", "image_size", "max_images_per_class")
        },
        "hardware": {
            "pretrain": pretrain_hw,
            "evaluation": sorted({str(d) for d in results["device"] if isinstance(d, str) and d}),
        },
        "data": described,
        "commits": commits,
        "runs_without_commit": int(sum(1 for c in runs["commit"] if not (isinstance(c, str) and c))),
        "runs": sorted(runs["run_dir"]),
        "pretrain_seconds": {c["row"]: c["pretrain_seconds"] for c in compute},
        "voc_protocol": voc_protocol(scale) if n == 1 else {},
    }


def format_figure(mean: float, std: float, n: int) -> str:
    """`29.1 ± 0.5 (n=2)`, `29.1 (n=1)` or `-`."""
    if n == 0 or pd.isna(mean):
        return MISSING
    if n == 1 or pd.isna(std):
        return f"{mean:.1f} (n={n})"
    return f"{mean:.1f} ± {std:.1f} (n={n})"


def format_paper(value: Any) -> str:
    return MISSING if pd.isna(value) else f"{float(value):.1f}"


def display_frame(result: TableResult) -> pd.DataFrame:
    """The table as strings for Markdown and the terminal: each paper figure beside ours."""
    rows = []
    for _, r in result.frame.iterrows():
        out = {"row": r["row"], "recipe": r["recipe"] or MISSING}
        out.update({"MLP": _tick(r["mlp"]), "aug+": _tick(r["aug_plus"]), "cos": _tick(r["cos"])})
        out["epochs"] = MISSING if pd.isna(r["epochs"]) else str(int(r["epochs"]))
        if "batch" in r:
            out["batch"] = MISSING if pd.isna(r["batch"]) else str(int(r["batch"]))
        out["paper top-1"] = format_paper(r["paper_top1"])
        out[f"ours linear top-1 ({result.scale})"] = format_figure(r["top1_mean"], r["top1_std"], r["top1_n"])
        out["seeds"] = str(int(r["seeds"])) if r["seeds"] else MISSING
        out["ours kNN top-1 (pre-training monitor)"] = format_figure(r["knn_mean"], r["knn_std"], r["knn_n"])
        if result.number == 1:
            for prefix, metric, _ in VOC_METRICS:
                out[f"paper VOC {metric}"] = format_paper(r[f"paper_{prefix}"])
                out[f"ours VOC {metric}"] = format_figure(
                    r[f"{prefix}_mean"], r[f"{prefix}_std"], r[f"{prefix}_n"]
                )
        rows.append(out)
    return pd.DataFrame(rows, dtype=str)


def _tick(flag: Any) -> str:
    return "✓" if bool(flag) else ""

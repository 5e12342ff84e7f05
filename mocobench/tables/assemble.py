"""Tables 1 and 2 at a scale: the paper's figure beside ours (mean, std and count over runs x trials).

`build_table` is a pure function of the result store (`mocobench.results.store.collect`) and the repo's
data (paper CSVs, recipes, scales): nothing depends on the clock or on file times. Each paper row maps to
the recipe whose `[[paper]]` names it; ours are the linear top-1 figures of that recipe's finished runs at
the scale, scored with the linear protocol the recipe names (`linear_protocol`: MoCo's, or SimCLR's for the
SimCLR rows) at the same scale; a figure of another protocol never fills a row. A row without figures shows
`-` and the notes render the plan's steps that fill it (`plan.py`, the judge `reproduce` runs); a table
with such a row says plainly that it is partial.

Below the paper's compute only orderings compare (PAPER.md's figures are ResNet-50 on ImageNet): a non-paper
table says so in its header, judges the paper's significant pairs (`orderings.py`) except at `smoke`, a
pipeline check whose header says it is not a result, and says when its tier could not learn at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mocobench.config.detection import scaled_protocol
from mocobench.config.linear import resolve_linear
from mocobench.config.paper import load_paper_table
from mocobench.config.recipes import recipes_for_table
from mocobench.config.scales import canonical_scale, scale_rules, voc_trials
from mocobench.errors import UsageError
from mocobench.results import layout
from mocobench.run.config import resolve
from mocobench.tables.curves import knn_curve
from mocobench.tables.format import KNOBS, VOC_METRICS, describe_data, nested_stats, seed_groups, stats
from mocobench.tables.learning import judge
from mocobench.tables.notes import (
    blur_notes,
    classes_of,
    learning_lines,
    pipeline_notes,
    protocol_notes,
    random_init_notes,
    row_notes,
    scale_caveats,
    table_notes,
    warning,
)
from mocobench.tables.orderings import Verdict, seed_values, table_verdicts
from mocobench.tables.plan import Step, row_steps, store_models, voc_rows
from mocobench.tables.rows import (
    Compute,
    Figure,
    Header,
    LinearProtocol,
    Row,
    VocCell,
    VocProtocol,
    frame_of,
)
from mocobench.tables.structure import figure_notes


@dataclass
class TableResult:
    """One assembled table: `frame` (the rows' records) goes to CSV; `header`, `rows` and `notes` into the
    Markdown."""

    number: int
    scale: str
    frame: pd.DataFrame
    header: Header
    rows: tuple[Row, ...]
    notes: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)  # the paper's orderings, judged (non-paper scales)

    @property
    def stem(self) -> str:
        """File name stem: `table1` at paper scale, `table1_cpu` otherwise."""
        return f"table{self.number}" if self.scale == "paper" else f"table{self.number}_{self.scale}"

    @property
    def partial(self) -> bool:
        """True when some row has no linear top-1 of ours."""
        return any(row.top1.n == 0 for row in self.rows)


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


def scale_has_voc(scale: str, rules: dict[str, Any]) -> bool:
    """Whether Table 1 has VOC columns at `scale`: the paper's, and any tier with a `[<scale>.detection]`
    (the gpu tier has none: its CIFAR-stem encoders have no Detectron2 counterpart)."""
    return scale == "paper" or "detection" in rules


def orderings_state(scale: str, rules: dict[str, Any]) -> str:
    """`verdicts` below the paper's compute; `smoke` (a pipeline check: none); `` at paper scale."""
    if scale == "paper":
        return ""
    return "smoke" if rules.get("pipeline_check") or scale == "smoke" else "verdicts"


def _figure(values: pd.Series) -> Figure:
    return Figure(*stats(values))


def build_table(n: int, store: Any, scale: str, runs_dir: str = "runs") -> TableResult:
    """Table `n` (1 or 2) at `scale` from `store` (with `.runs` and `.results`, see the module docstring);
    `runs_dir` is where the store was read, for the commands the notes suggest."""
    if n == 3:
        raise UsageError(
            "table 3 (memory and time) is built from a `mocobench profile` record: run `mocobench table 3`"
        )
    if n not in KNOBS:
        raise UsageError(f"no table {n} in the paper; use 1, 2 or 3")
    rules = scale_rules(scale)
    scale = canonical_scale(scale)  # `mini` is `cpu` (results/store.py reads old runs so)
    has_voc = n == 1 and scale_has_voc(scale, rules)
    paper = load_paper_table(n)
    row_recipe = recipes_for_table(n)
    with_voc = voc_rows(n)
    runs = _runs(store)
    results = _results(store)
    at_this_scale = results[results["scale"] == scale]
    any_voc = bool((at_this_scale["kind"] == "voc").any())  # per-row VOC notes once some row has VOC

    rows: list[Row] = []
    notes: list[str] = []
    seeds_by_row: dict[tuple[str, str], list[float]] = {}
    learning: list[tuple[str, float, float, float]] = []
    blur: list[tuple[int, list[float]]] = []
    used_runs: list[pd.DataFrame] = []
    used_results: list[pd.DataFrame] = []
    for _, prow in paper.iterrows():
        label = str(prow["row"])
        recipe = row_recipe.get(label, "")
        at_scale = runs[(runs["recipe"] == recipe) & (runs["scale"] == scale)] if recipe else runs.iloc[:0]
        done = at_scale[at_scale["finished"]]
        res = at_this_scale[at_this_scale["run_dir"].isin(set(done["run_dir"]))]
        cfg = resolve(recipe, scale) if recipe else None
        top1 = res[
            (res["kind"] == "linear")
            & (res["protocol"] == (cfg.run.linear_protocol if cfg else None))
            & (res["metric"] == "top1")
        ]
        linear, knn = _figure(top1["value"]), _figure(done["knn_top1"])
        knn_init = stats(done["knn_top1_init"])[0]
        seed_of = {str(d): int(s) for d, s in zip(done["run_dir"], done["seed"], strict=True)}
        seeds_by_row[(label, "linear_top1")] = seed_values(top1, seed_of)
        learning.append((label, linear.mean, knn.mean, knn_init))
        if cfg and cfg.data.augmentation == "aug_plus":
            blur += [(int(size), list(cfg.data.blur_sigma)) for size in done["image_size"]]
        voc = res[res["kind"] == "voc"]
        cells, shape = _voc_figures(prow, voc, seed_of, seeds_by_row) if n == 1 else ((), (0, 0, 0))
        steps: list[Step] = []
        compute = None
        if cfg:
            first = layout.run_dir(scale, recipe, 0, Path(runs_dir))
            models = store_models(at_scale, at_this_scale, cfg.run.linear_protocol, first)
            steps = row_steps(n, label, cfg, models, voc_trials(scale), detection=has_voc)
            seconds = float(done["pretrain_seconds"].astype(float).sum()) if len(done) else None
            flat = cfg.flat()
            keys = ("arch", "image_size", "epochs", "batch_size", "lr", "linear_protocol")
            compute = Compute(**{k: flat[k] for k in keys}, finished_runs=len(done), pretrain_seconds=seconds)
        row = Row(
            label=label,
            recipe=recipe,
            mlp=bool(prow["mlp"]),
            aug_plus=bool(prow["aug_plus"]),
            cos=bool(prow["cos"]),
            epochs=_knob(prow, "epochs"),
            batch=_knob(prow, "batch"),
            paper_top1=float(prow["imagenet_top1"]),
            top1=linear,
            seeds=int(done[done["run_dir"].isin(set(top1["run_dir"]))]["seed"].nunique()),
            knn=knn,
            knn_init_mean=knn_init,
            runs_finished=len(done),
            learns=judge(knn_init, knn.mean, linear.mean, classes_of(done)),
            knn_curve=knn_curve([Path(d) for d in done["run_dir"]]),
            voc=has_voc and label in with_voc,
            voc_cells=cells,
            voc_shape=shape,
            compute=compute,
            steps=tuple(steps),
        )
        rows.append(row)
        used_runs.append(done)
        used_results.append(top1 if n == 2 else pd.concat([top1, voc]))
        notes.extend(row_notes(n, row, scale, at_scale, str(runs_dir), any_voc))

    protocols: dict[str, list[str]] = {}
    for r in rows:
        if r.compute:
            protocols.setdefault(r.compute.linear_protocol, []).append(r.label)
    runs_used = pd.concat(used_runs).drop_duplicates("run_dir") if used_runs else runs.iloc[:0]
    results_used = pd.concat(used_results) if used_results else results.iloc[:0]
    learned_header, learned_notes = learning_lines(learning, classes_of(runs_used), scale)
    pipelines = pipeline_notes([(r.label, d) for r, d in zip(rows, used_runs, strict=True)])
    extra = figure_notes(n, scale, rows, has_voc, str(runs_dir)) + protocol_notes(protocols) + pipelines
    extra += random_init_notes(n, scale, results, str(runs_dir))
    extra += learned_notes + blur_notes(n, blur)
    notes = table_notes(n, scale, rows, has_voc) + extra + notes
    orderings = orderings_state(scale, rules)
    caveats = scale_caveats(scale, orderings == "smoke") + learned_header
    header = _header(n, scale, rules, rows, protocols, runs_used, results_used, has_voc, caveats, orderings)
    verdicts = []
    if orderings == "verdicts":
        metrics = ["linear_top1"] + ([f"voc_{prefix}" for prefix, _, _ in VOC_METRICS] if has_voc else [])
        verdicts = table_verdicts(n, seeds_by_row, metrics)
    return TableResult(n, scale, frame_of(n, tuple(rows)), header, tuple(rows), notes, verdicts)


def _knob(prow: pd.Series, name: str) -> int | None:
    """A paper row's epochs or batch (None where the paper gives none, or the table has no such knob)."""
    return None if name not in prow or pd.isna(prow[name]) else int(prow[name])


def _voc_figures(
    prow: pd.Series,
    voc: pd.DataFrame,
    seed_of: dict[str, int],
    seeds_by_row: dict[tuple[str, str], list[float]],
) -> tuple[tuple[VocCell, ...], tuple[int, int, int]]:
    """A Table 1 row's VOC cells from its seeds x trials (`format.nested_stats`): the mean over every
    fine-tune, the pooled std across trials of one model (the paper's VOC std: its figures are means of 5
    trials of one pre-trained model, facebookresearch/moco detection/README.md:61@7397dfe) and, beside it,
    the spread across seeds; and the shape: seeds with VOC figures, fewest and most trials of one."""
    cells = []
    shape = nested_stats(seed_groups(voc.drop_duplicates(["run_dir", "trial"]), seed_of))
    for prefix, metric, paper_col in VOC_METRICS:
        trials = voc[voc["metric"] == metric]
        seeds_by_row[(str(prow["row"]), f"voc_{prefix}")] = seed_values(trials, seed_of)
        f = nested_stats(seed_groups(trials, seed_of))
        cells.append(VocCell(prefix, metric, float(prow[paper_col]), Figure(f.mean, f.std, f.n), f.seed_std))
    return tuple(cells), (shape.seeds, *shape.trials)


def linear_summary(name: str, scale: str, rows: list[str]) -> LinearProtocol:
    """Linear protocol `name` at `scale`, for the header, with the rows it scores."""
    p = resolve_linear(scale, name=name)
    keys = ("epochs", "batch_size", "lr", "cos", "nesterov", "weight_decay", "image_size")
    return LinearProtocol(
        name=name,
        **{k: p[k] for k in keys},
        schedule=tuple(p["schedule"]),
        max_images_per_class=p["max_images_per_class"],
        rows=tuple(rows),
    )


def voc_protocol(scale: str) -> VocProtocol:
    """Table 1's detection protocol at `scale`, for the header (read without Detectron2)."""
    p = scaled_protocol(scale)
    keys = ("max_iter", "ims_per_batch", "base_lr", "min_size_test", "max_test_images")
    return VocProtocol(
        **{k: p[k] for k in keys}, steps=tuple(p["steps"]), min_size_train=tuple(p["min_size_train"])
    )


def _header(
    n: int,
    scale: str,
    rules: dict,
    rows: list[Row],
    protocols: dict[str, list[str]],
    runs: pd.DataFrame,
    results: pd.DataFrame,
    has_voc: bool,
    caveats: list[str],
    orderings: str,
) -> Header:
    data = sorted({str(d) for d in runs["data"] if isinstance(d, str) and d})
    described = [describe_data(d) for d in data]
    pretrain_hw = sorted(
        {f"{dev}, world size {int(ws)}" for dev, ws in zip(runs["device"], runs["world_size"], strict=True)}
    )
    compute = [r.compute for r in rows if r.compute]
    return Header(
        table=n,
        title=f"Table {n} (MoCo v2 paper) reproduced at scale {scale}",
        scale=scale,
        scale_description=str(rules.get("description", "")),
        warning=warning(scale, compute, data, described),
        caveats=tuple(caveats),
        orderings=orderings,
        has_voc=has_voc,
        linear_protocols=tuple(linear_summary(name, scale, labels) for name, labels in protocols.items()),
        voc_protocol=voc_protocol(scale) if has_voc else None,
        hardware_pretrain=tuple(pretrain_hw),
        hardware_evaluation=tuple(sorted({str(d) for d in results["device"] if isinstance(d, str) and d})),
        data=tuple(described),
        commits=tuple(sorted({str(c) for c in runs["commit"] if isinstance(c, str) and c})),
        runs_without_commit=int(sum(1 for c in runs["commit"] if not (isinstance(c, str) and c))),
        runs=tuple(sorted(runs["run_dir"])),
    )

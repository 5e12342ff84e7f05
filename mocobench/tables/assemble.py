"""Tables 1 and 2 at a scale: the paper's figure beside ours (mean, std and count over runs x trials).

`build_table` is a pure function of the result store (`mocobench.results.store.collect`) and the repo's
data (paper CSVs, recipes, scales): nothing depends on the clock or on file times. Each paper row maps to
the recipe whose `[[paper]]` names it; ours are the linear top-1 figures of that recipe's finished runs at
the scale, scored with the linear protocol the recipe names (`linear_protocol`: MoCo's, or SimCLR's for the
SimCLR rows) at the same scale; a figure of another protocol never fills a row. A row without figures shows
`-` and the notes say which command fills it; a table with such a row says plainly that it is partial.

Below the paper's compute only orderings compare (PAPER.md's figures are ResNet-50 on ImageNet): a non-paper
table says so in its header, judges the paper's significant pairs (`orderings.py`) except at `smoke`, a
pipeline check whose header says it is not a result, and says when its tier could not learn at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mocobench.config.detection import scaled_protocol
from mocobench.config.linear import resolve_linear
from mocobench.config.paper import load_paper_table
from mocobench.config.recipes import recipes_for_table, resolve
from mocobench.config.scales import canonical_scale, scale_rules
from mocobench.errors import UsageError
from mocobench.tables.format import (
    KNOBS,
    VOC_METRICS,
    VOC_SHAPE,
    describe_data,
    nested_stats,
    seed_groups,
    stats,
)
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
from mocobench.tables.structure import figure_notes


@dataclass
class TableResult:
    """One assembled table: `frame` is what goes to CSV; `notes` and `meta` go into the Markdown."""

    number: int
    scale: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)  # the paper's orderings, judged (non-paper scales)

    @property
    def stem(self) -> str:
        """File name stem: `table1` at paper scale, `table1_cpu` otherwise."""
        return f"table{self.number}" if self.scale == "paper" else f"table{self.number}_{self.scale}"

    @property
    def partial(self) -> bool:
        """True when some row has no linear top-1 of ours."""
        return bool((self.frame["top1_n"] == 0).any())


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


def _paper_has_voc(prow: pd.Series) -> bool:
    return "voc_ap50" in prow and not pd.isna(prow["voc_ap50"])


def scale_has_voc(scale: str, rules: dict[str, Any]) -> bool:
    """Whether Table 1 has VOC columns at `scale`: the paper's, and any tier with a `[<scale>.detection]`
    (the gpu tier has none: its CIFAR-stem encoders have no Detectron2 counterpart)."""
    return scale == "paper" or "detection" in rules


def orderings_state(scale: str, rules: dict[str, Any]) -> str:
    """`verdicts` below the paper's compute; `smoke` (a pipeline check: none); `` at paper scale."""
    if scale == "paper":
        return ""
    return "smoke" if rules.get("pipeline_check") or scale == "smoke" else "verdicts"


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
    runs = _runs(store)
    results = _results(store)
    at_this_scale = results[results["scale"] == scale]

    records, notes, compute = [], [], []
    seeds_by_row: dict[tuple[str, str], list[float]] = {}
    learning: list[tuple[str, float, float, float]] = []
    blur: list[tuple[int, list[float]]] = []
    used_runs: list[pd.DataFrame] = []
    used_results: list[pd.DataFrame] = []
    for _, prow in paper.iterrows():
        row = str(prow["row"])
        recipe = row_recipe.get(row, "")
        at_scale = runs[(runs["recipe"] == recipe) & (runs["scale"] == scale)] if recipe else runs.iloc[:0]
        done = at_scale[at_scale["finished"]]
        res = at_this_scale[at_this_scale["run_dir"].isin(set(done["run_dir"]))]
        cfg = resolve(recipe, scale) if recipe else {}
        top1 = res[
            (res["kind"] == "linear")
            & (res["protocol"] == cfg.get("linear_protocol"))
            & (res["metric"] == "top1")
        ]
        mean, std, count = stats(top1["value"])
        knn_mean, knn_std, knn_n = stats(done["knn_top1"])
        knn_init = stats(done["knn_top1_init"])[0]
        seed_of = {str(d): int(s) for d, s in zip(done["run_dir"], done["seed"], strict=True)}
        seeds_by_row[(row, "linear_top1")] = seed_values(top1, seed_of)
        learning.append((row, mean, knn_mean, knn_init))
        if cfg.get("augmentation") == "aug_plus":
            blur += [(int(size), list(cfg["blur_sigma"])) for size in done["image_size"]]
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
                "knn_init_mean": knn_init,
                "runs_finished": len(done),
            }
        )
        voc = res[res["kind"] == "voc"]
        if n == 1:
            record.update(_voc_figures(prow, voc, seed_of, seeds_by_row))
        records.append(record)
        used_runs.append(done)
        used_results.append(top1 if n == 2 else pd.concat([top1, voc]))
        # Per-row VOC notes once some row has VOC figures; before that one table note says how to start.
        any_voc = bool((at_this_scale["kind"] == "voc").any())
        row_voc = voc if has_voc and any_voc and _paper_has_voc(prow) else None
        notes.extend(row_notes(n, row, recipe, scale, at_scale, top1, str(runs_dir), row_voc, has_voc))
        if recipe:
            seconds = float(done["pretrain_seconds"].astype(float).sum()) if len(done) else None
            compute.append(
                {
                    "row": row,
                    "recipe": recipe,
                    **{k: cfg[k] for k in ("arch", "image_size", "epochs", "batch_size", "lr")},
                    "linear_protocol": cfg["linear_protocol"],
                    "finished_runs": len(done),
                    "pretrain_seconds": seconds,
                }
            )

    frame = pd.DataFrame.from_records(records)
    frame["knn_init_mean"] = frame["knn_init_mean"].astype(float)
    for col in ("top1_n", "seeds", "knn_n", "runs_finished"):
        frame[col] = frame[col].astype(int)
    for col in ("epochs", "batch"):
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    if n == 1:
        counts = [f"{prefix}_n" for prefix, _, _ in VOC_METRICS] + list(VOC_SHAPE)
        frame[counts] = frame[counts].astype(int)

    protocols: dict[str, list[str]] = {}
    for c in compute:
        protocols.setdefault(c["linear_protocol"], []).append(c["row"])
    runs_used = pd.concat(used_runs).drop_duplicates("run_dir") if used_runs else runs.iloc[:0]
    results_used = pd.concat(used_results) if used_results else results.iloc[:0]
    learned_header, learned_notes = learning_lines(learning, classes_of(runs_used), scale)
    pipelines = pipeline_notes([(r["row"], d) for r, d in zip(records, used_runs, strict=True)])
    extra = figure_notes(n, scale, frame, has_voc, str(runs_dir)) + protocol_notes(protocols) + pipelines
    extra += random_init_notes(n, scale, results, str(runs_dir))
    extra += learned_notes + blur_notes(n, blur)
    notes = table_notes(n, scale, frame, has_voc) + extra + notes
    meta = _meta(n, scale, rules, compute, protocols, runs_used, results_used, has_voc)
    meta["caveats"] = scale_caveats(scale, orderings_state(scale, rules) == "smoke") + learned_header
    meta["orderings"] = orderings_state(scale, rules)
    verdicts = []
    if meta["orderings"] == "verdicts":
        metrics = ["linear_top1"] + ([f"voc_{prefix}" for prefix, _, _ in VOC_METRICS] if has_voc else [])
        verdicts = table_verdicts(n, seeds_by_row, metrics)
    return TableResult(number=n, scale=scale, frame=frame, notes=notes, meta=meta, verdicts=verdicts)


def _voc_figures(
    prow: pd.Series,
    voc: pd.DataFrame,
    seed_of: dict[str, int],
    seeds_by_row: dict[tuple[str, str], list[float]],
) -> dict[str, Any]:
    """A Table 1 row's VOC cells from its seeds x trials (`format.nested_stats`): the mean over every
    fine-tune, the pooled std across trials of one model (the paper's VOC std: its figures are means of 5
    trials of one pre-trained model, facebookresearch/moco detection/README.md:61@7397dfe) and, beside it,
    the spread across seeds (`<metric>_seed_std`); `voc_seeds` and `voc_trials_min/max` give the shape."""
    out: dict[str, Any] = {}
    shape = nested_stats(seed_groups(voc.drop_duplicates(["run_dir", "trial"]), seed_of))
    for prefix, metric, paper_col in VOC_METRICS:
        trials = voc[voc["metric"] == metric]
        seeds_by_row[(str(prow["row"]), f"voc_{prefix}")] = seed_values(trials, seed_of)
        figures = nested_stats(seed_groups(trials, seed_of))
        out.update(
            {
                f"paper_{prefix}": float(prow[paper_col]),
                f"{prefix}_mean": figures.mean,
                f"{prefix}_std": figures.std,
                f"{prefix}_n": figures.n,
                f"{prefix}_seed_std": figures.seed_std,
            }
        )
    out.update(zip(VOC_SHAPE, (shape.seeds, *shape.trials), strict=True))
    return out


def linear_summary(name: str, scale: str, rows: list[str]) -> dict[str, Any]:
    """Linear protocol `name` at `scale`, for the header, with the rows it scores."""
    p = resolve_linear(scale, name=name)
    keys = ("epochs", "batch_size", "lr", "cos", "schedule", "nesterov", "weight_decay", "image_size")
    return {**{k: p[k] for k in keys}, "max_images_per_class": p["max_images_per_class"], "rows": rows}


def voc_protocol(scale: str) -> dict[str, Any]:
    """Table 1's detection protocol at `scale`, for the header (read without Detectron2)."""
    p = scaled_protocol(scale)
    keys = ("max_iter", "ims_per_batch", "base_lr", "steps", "min_size_train", "min_size_test")
    return {**{k: p[k] for k in keys}, "max_test_images": p["max_test_images"]}


def _meta(
    n: int,
    scale: str,
    rules: dict,
    compute: list[dict],
    protocols: dict[str, list[str]],
    runs: pd.DataFrame,
    results: pd.DataFrame,
    has_voc: bool,
) -> dict[str, Any]:
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
        "warning": warning(scale, compute, data, described),
        "compute": compute,
        "linear_protocols": {name: linear_summary(name, scale, rows) for name, rows in protocols.items()},
        "hardware": {
            "pretrain": pretrain_hw,
            "evaluation": sorted({str(d) for d in results["device"] if isinstance(d, str) and d}),
        },
        "data": described,
        "commits": commits,
        "runs_without_commit": int(sum(1 for c in runs["commit"] if not (isinstance(c, str) and c))),
        "runs": sorted(runs["run_dir"]),
        "pretrain_seconds": {c["row"]: c["pretrain_seconds"] for c in compute},
        "voc_protocol": voc_protocol(scale) if has_voc else {},
        "has_voc": has_voc,
    }

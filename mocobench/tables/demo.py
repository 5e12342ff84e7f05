"""`mocobench table demo`: our runs of the official MoCo CIFAR-10 demo beside its published kNN top-1.

Not a paper table: the one small-scale figure the MoCo authors publish (PAPER.md "Small-scale reference"),
so a user with CIFAR-10 can check us on one GPU. Ours are the finished runs of recipe `moco-cifar10-demo`
at the scale, grouped by epochs: the final kNN top-1 (the demo's monitor, k 200, t 0.1 on the 128-d
output) as mean ± std over pre-training seeds, beside the demo's published figure at the same epochs for
its default asymmetric loss, the one the recipe runs (`tables/paper/cifar10_demo.csv`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table
from rich.text import Text

from mocobench.config.paper import demo_reference
from mocobench.config.scales import canonical_scale, scale_rules
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.results import layout
from mocobench.run.config import resolve
from mocobench.runtime import atomic
from mocobench.tables.format import MISSING, arch_name, describe_data, format_figure, format_paper, stats
from mocobench.tables.notes import classes_of, learning_lines, scale_caveats
from mocobench.tables.orderings import seed_values

DEMO_RECIPE = "moco-cifar10-demo"
SOURCE = "facebookresearch/moco colab/moco_cifar10_demo.ipynb"


@dataclass(frozen=True)
class DemoHeader:
    """What the Markdown says above the demo table: the tier, its caveats, the recipe as run (or why it
    does not run there), and where the finished runs ran."""

    title: str
    scale_description: str
    caveats: list[str]
    recipe: RunConfig | None  # the resolved config; None where the tier refuses the recipe
    refused: str
    hardware: list[str]
    data: list[str]
    commits: list[str]
    runs: list[str]


@dataclass
class DemoTable:
    """The assembled demo table: `frame` goes to CSV, `notes` and `header` into the Markdown."""

    scale: str
    frame: pd.DataFrame
    notes: list[str]
    header: DemoHeader

    @property
    def stem(self) -> str:
        """`demo` at paper scale (the demo as published), `demo_<scale>` otherwise, as Tables 1 and 2."""
        return "demo" if self.scale == "paper" else f"demo_{self.scale}"


def _recipe(scale: str) -> tuple[RunConfig | None, str]:
    """The recipe resolved at `scale`, or (None, why not) where it does not run there."""
    try:
        return resolve(DEMO_RECIPE, scale), ""
    except UsageError as e:
        return None, str(e)


def build_demo_table(store: Any, scale: str, runs_dir: str = "runs") -> DemoTable:
    """The demo table at `scale` from `store` (`.runs`, as `results.store.collect` gives it)."""
    rules = scale_rules(scale)
    scale = canonical_scale(scale)
    runs = store.runs.copy()
    runs["finished"] = runs["finished"].astype("boolean").fillna(False).astype(bool)
    mine = runs[(runs["recipe"].astype(str) == DEMO_RECIPE) & (runs["scale"].astype(str) == scale)]
    mine = mine.sort_values("run_dir", kind="stable")
    done = mine[mine["finished"]]
    published = demo_reference("asymmetric")
    records, learning = [], []
    for epochs in sorted(set(published) | {int(e) for e in done["epochs"]}):
        at = done[done["epochs"].astype(int) == epochs]
        seed_of = {str(d): int(s) for d, s in zip(at["run_dir"], at["seed"], strict=True)}
        knn = seed_values(pd.DataFrame({"run_dir": at["run_dir"], "value": at["knn_top1"]}), seed_of)
        mean, std, n = stats(pd.Series(knn, dtype=float))
        init = stats(at["knn_top1_init"])[0]
        records.append(
            {
                "epochs": epochs,
                "published_knn_top1": published.get(epochs, float("nan")),
                "knn_mean": mean,
                "knn_std": std,
                "seeds": n,
                "knn_init_mean": init,
                "runs_finished": len(at),
                "scale": scale,
                "data": "; ".join(sorted({describe_data(d) for d in at["data"] if isinstance(d, str) and d})),
            }
        )
        if len(at):
            learning.append((f"{epochs} epochs", float("nan"), mean, init))
    frame = pd.DataFrame.from_records(records)
    for col in ("seeds", "runs_finished"):
        frame[col] = frame[col].astype(int)
    config, refused = _recipe(scale)
    header, learned = learning_lines(learning, classes_of(done), scale)
    pipeline_check = bool(rules.get("pipeline_check")) or scale == "smoke"
    head = DemoHeader(
        title=f"The official MoCo CIFAR-10 demo reproduced at scale {scale}",
        scale_description=str(rules.get("description", "")),
        caveats=scale_caveats(scale, pipeline_check, orderings=False) + header,
        recipe=config,
        refused=refused,
        hardware=sorted(
            {f"{d}, world size {int(w)}" for d, w in zip(done["device"], done["world_size"], strict=True)}
        ),
        data=sorted({describe_data(d) for d in done["data"] if isinstance(d, str) and d}),
        commits=sorted({str(c) for c in done["commit"] if isinstance(c, str) and c}),
        runs=sorted(done["run_dir"].astype(str)),
    )
    return DemoTable(
        scale, frame, _notes(scale, mine, done, refused, published, str(runs_dir)) + learned, head
    )


def _notes(
    scale: str,
    mine: pd.DataFrame,
    done: pd.DataFrame,
    refused: str,
    published: dict[int, float],
    runs_dir: str,
) -> list[str]:
    epochs = " / ".join(str(e) for e in sorted(published))
    figures = " / ".join(f"{v:.1f}" for _, v in sorted(published.items()))
    symmetric = demo_reference("symmetric")
    notes = [
        f"Published: the demo's kNN top-1 on the CIFAR-10 test set, {figures} at {epochs} epochs with its "
        f"default asymmetric loss ({SOURCE}; PAPER.md). Its --symmetric option, not ported, gives "
        f"{' / '.join(f'{v:.1f}' for _, v in sorted(symmetric.items()))}.",
        "Ours compare with them in absolute value only on CIFAR-10 (`--data cifar10:PATH`) at the same "
        "epochs; on other data, or at smoke, only the pipeline is checked.",
    ]
    if refused:
        notes.append(f"No run at scale {scale}: {refused}.")
    elif done.empty:
        custom = runs_dir != layout.DEFAULT_RUNS  # the default store needs no --out
        out = f" --out {layout.run_dir(scale, DEMO_RECIPE, 0, Path(runs_dir))}" if custom else ""
        command = f"mocobench pretrain --recipe {DEMO_RECIPE} --scale {scale} --data cifar10:PATH{out}"
        notes.append(
            f"No finished run of `{DEMO_RECIPE}` at scale {scale}: `{command}` fills the "
            f"{min(published)}-epoch row (`--set epochs=400` or `800` the others, `--seed N` more seeds)."
        )
    for _, run in mine[~mine["finished"]].iterrows():
        notes.append(
            f"{run['run_dir']} is unfinished ({int(run['epochs_done'])} of {int(run['epochs'])} epochs; it "
            "may still be training): not shown."
        )
    return notes


def display_frame(table: DemoTable) -> pd.DataFrame:
    """The table as strings for Markdown and the terminal."""
    rows = []
    for _, r in table.frame.iterrows():
        rows.append(
            {
                "epochs": str(int(r["epochs"])),
                "published kNN top-1 (asymmetric)": format_paper(r["published_knn_top1"]),
                f"ours kNN top-1 ({table.scale})": format_figure(
                    r["knn_mean"], r["knn_std"], int(r["seeds"])
                ),
                "seeds": str(int(r["seeds"])) if r["seeds"] else MISSING,
                "scale": str(r["scale"]),
                "data": str(r["data"]) or MISSING,
            }
        )
    return pd.DataFrame(rows, dtype=str)


def header_lines(table: DemoTable) -> list[str]:
    """The paragraph above the table: scale and caveats, the recipe as run, hardware, data, commits."""
    head = table.header
    if head.recipe:
        m, o, r = head.recipe.method, head.recipe.optim, head.recipe.run
        recipe = (
            f"**Recipe `{DEMO_RECIPE}`** ({SOURCE}) at scale {table.scale}: {arch_name(m.arch)} "
            f"({m.stem} stem) at {head.recipe.data.image_size} px, {o.epochs} epochs, batch {o.batch_size}, "
            f"lr {o.lr:g}{', cosine' if o.cos else ''}, K {m.moco_k}, m {m.moco_m:g}, T "
            f"{m.moco_t:g}; kNN monitor k {r.knn_k}, t {r.knn_t:g} on the {r.knn_on}."
        )
    else:
        recipe = f"**Recipe `{DEMO_RECIPE}`** ({SOURCE}): {head.refused or 'not resolved'}."
    return [
        f"**Scale {table.scale}**: {head.scale_description}",
        *head.caveats,
        recipe,
        f"**Hardware**: {'; '.join(head.hardware) or 'none yet'}.",
        f"**Data**: {'; '.join(head.data) or 'no run yet'}.",
        f"**mocobench commits**: {', '.join(head.commits) or 'none recorded'}.",
    ]


def markdown(table: DemoTable) -> str:
    shown = display_frame(table)
    lines = [f"# {table.header.title}", "", "  \n".join(header_lines(table)), ""]
    lines.append("| " + " | ".join(shown.columns) + " |")
    lines.append("|" + "---|" * len(shown.columns))
    lines += [
        "| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in shown.itertuples(index=False)
    ]
    lines += ["", "## Notes", "", *[f"- {n}" for n in table.notes], ""]
    return "\n".join(lines)


def write_demo_table(table: DemoTable, out_dir: Path) -> list[Path]:
    """`<stem>.csv` (the numbers) and `<stem>.md`, atomically."""
    out_dir = Path(out_dir)
    csv_path = atomic.write_text(out_dir / f"{table.stem}.csv", table.frame.to_csv(index=False))
    md_path = atomic.write_text(out_dir / f"{table.stem}.md", markdown(table))
    return [csv_path, md_path]


def rich_table(table: DemoTable) -> Table:
    """The table for the terminal (the Markdown's cells); the notes are printed by the caller."""
    shown = display_frame(table)
    caveats = [c.replace("**", "") for c in table.header.caveats]
    view = Table(title=table.header.title, caption=Text("\n".join(caveats)) if caveats else None)
    for col in shown.columns:
        view.add_column(col, justify="left" if col in ("data", "scale") else "right", overflow="fold")
    for row in shown.itertuples(index=False):
        view.add_row(*(Text(v) for v in row))
    return view

"""The `mocobench` command line (Typer). Each command is a thin shell over one module."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mocobench.errors import UsageError

app = typer.Typer(
    help="Reproduce the MoCo v2 paper's tables end to end.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
recipes_app = typer.Typer(
    help="List paper recipes, or show one resolved config.", invoke_without_command=True
)
data_app = typer.Typer(help="The embedded dataset and data folders.", no_args_is_help=True)
reproduce_app = typer.Typer(
    help="Run every missing step of a paper table (pre-train, linear), then write the table.",
    no_args_is_help=True,
)
export_app = typer.Typer(help="Convert pre-trained weights for other frameworks.", no_args_is_help=True)
app.add_typer(recipes_app, name="recipes")
app.add_typer(data_app, name="data")
app.add_typer(reproduce_app, name="reproduce")
app.add_typer(export_app, name="export")

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

ScaleOpt = Annotated[
    str, typer.Option("--scale", help="paper | mini | smoke: how much compute (never the row's knob)")
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a setting: --set key=value (repeatable)")
]


RunsOpt = Annotated[
    Path | None,
    typer.Option("--runs", help="Runs folder (the result store); default $MOCOBENCH_RUNS or ./runs"),
]
TablesOpt = Annotated[Path, typer.Option("--out", help="Folder for table<N>[_<scale>].csv/.md/.png")]
# Options shared by the evaluations (linear, detect-voc).
EvalScaleOpt = Annotated[
    str | None, typer.Option("--scale", help="paper | mini | smoke; default: the run's scale")
]
TrialSeedOpt = Annotated[int, typer.Option("--seed", help="Seed of trial 0 (trial i uses seed + i)")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda")]


def runs_root(runs: Path | None = None) -> Path:
    return runs or Path(os.environ.get("MOCOBENCH_RUNS", "runs"))


def default_run_dir(recipe: str, scale: str, seed: int) -> Path:
    """The result store's layout: `$MOCOBENCH_RUNS` (default ./runs) / scale / recipe / seed<N>."""
    return runs_root() / scale / recipe / f"seed{seed}"


def _paper_order(name: str) -> tuple[int, str]:
    from mocobench.config.recipes import get_recipe

    first = get_recipe(name).rows[0]
    lead = {"supervised": "0", "MoCo v1": "1"}  # Table 1's own order: baselines, then (a)..(e)
    return first.table, lead.get(first.row, "2" + first.row)


@recipes_app.callback()
def recipes_list(ctx: typer.Context) -> None:
    """List every recipe: its paper table and row, and the knobs that define it."""
    if ctx.invoked_subcommand is not None:
        return
    from mocobench.config.recipes import all_recipes, resolve

    table = Table(title="mocobench recipes (paper scale; --scale mini|smoke shrinks compute)")
    for col in (
        "recipe",
        "paper table: row",
        "mechanism",
        "MLP",
        "augmentation",
        "cos",
        "T",
        "epochs",
        "batch",
        "lr",
    ):
        table.add_column(col, no_wrap=col == "recipe")
    for name in sorted(all_recipes(), key=_paper_order):
        c = resolve(name)
        contrastive = c["mechanism"] != "supervised"
        table.add_row(
            name,
            "; ".join(f"{r['table']}: {r['row']}" for r in c["paper_rows"]),
            c["mechanism"],
            "x" if c["mlp"] else "",
            c["augmentation"],
            "x" if c["cos"] else "",
            f"{c['moco_t']:g}" if contrastive else "-",
            str(c["epochs"]),
            str(c["batch_size"]),
            f"{c['lr']:g}",
        )
    out.print(table)


@recipes_app.command("show")
def recipes_show(
    name: Annotated[str, typer.Argument(help="Recipe name, e.g. mlp+aug+cos")],
    scale: ScaleOpt = "paper",
    set_: SetOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the resolved config as one JSON object")
    ] = False,
) -> None:
    """Show the resolved config of one recipe at a scale, with overrides."""
    from mocobench.config.recipes import resolve

    config = resolve(name, scale, set_ or [])
    if as_json:
        print(json.dumps(config))
        return
    table = Table(title=f"{name} at scale {scale}")
    table.add_column("setting")
    table.add_column("value")
    for key, value in config.items():
        table.add_row(key, json.dumps(value))
    out.print(table)


@app.command()
def pretrain(
    recipe: Annotated[str, typer.Option("--recipe", help="Recipe name (mocobench recipes lists them)")],
    scale: ScaleOpt = "paper",
    data: Annotated[
        Path | None, typer.Option("--data", help="ImageNet-layout folder; default: the embedded dataset")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder; default runs/<scale>/<recipe>/seed<N>")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the initialisation, data order and augmentation")
    ] = 0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in the folder from its last checkpoint")
    ] = False,
    set_: SetOpt = None,
    device: DeviceOpt = "auto",
    launcher: Annotated[
        str, typer.Option("--launcher", help="none (this process / torchrun) | local | slurm (submitit)")
    ] = "none",
    nodes: Annotated[int, typer.Option("--nodes", help="slurm: nodes")] = 1,
    gpus_per_node: Annotated[int, typer.Option("--gpus-per-node", help="local/slurm: GPUs per node")] = 0,
    tasks_per_node: Annotated[
        int | None,
        typer.Option("--tasks-per-node", help="local/slurm: processes per node; default one per GPU, else 1"),
    ] = None,
    partition: Annotated[str | None, typer.Option("--partition", help="slurm: partition")] = None,
    timeout_min: Annotated[int, typer.Option("--timeout-min", help="local/slurm: job time limit")] = 4320,
) -> None:
    """Pre-train one paper row (MoCo, end-to-end or supervised): one process, torchrun, or submitit."""
    from mocobench.config.recipes import resolve
    from mocobench.train.pretrain import check_run_dir
    from mocobench.train.pretrain import pretrain as run_pretrain

    config = resolve(recipe, scale, set_ or [])
    run_dir = out_dir or default_run_dir(recipe, scale, seed)
    if launcher != "none":
        from mocobench.train.launch import PretrainJob, executor

        check_run_dir(run_dir, {**config, "seed": seed}, resume)  # here, not in a job log
        tasks = tasks_per_node or max(gpus_per_node, 1)
        logs = run_dir / "submitit"
        ex = executor(launcher, logs, nodes, gpus_per_node, tasks, partition, timeout_min, recipe)
        job = ex.submit(PretrainJob(config, str(run_dir), str(data) if data else None, seed, resume, device))
        out.print(f"submitted job {job.job_id} ({launcher}, {nodes} x {tasks} tasks); logs in {logs}")
        if launcher == "slurm":
            return
        summary = job.results()[0]  # local: wait, as a foreground run would
    else:
        summary = run_pretrain(config, run_dir, data=data, seed=seed, resume=resume, device=device)
    if int(os.environ.get("RANK", "0")) == 0:
        from mocobench.tables.curves import plot_run_curves

        plot_run_curves(run_dir)
        knn = summary["knn_top1"]
        init = summary["knn_top1_init"]
        line = (
            f"kNN top-1 {knn:.1f}% (random init {init:.1f}%)" if knn is not None and init is not None else ""
        )
        out.print(f"[bold green]done[/]: {recipe} ({scale}, seed {seed}) -> {run_dir}  {line}")


@app.command()
def linear(
    pretrained: Annotated[
        Path,
        typer.Option(
            "--pretrained", help="Finished run folder, or a checkpoint (ours, official MoCo, state_dict)"
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="ImageNet-layout folder; default: the run's data, else the embedded set"),
    ] = None,
    scale: EvalScaleOpt = None,
    seed: TrialSeedOpt = 0,
    trials: Annotated[int, typer.Option("--trials", help="Independent linear trials (mean +- std)")] = 1,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for linear.json; default: the run folder"),
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Loader processes")] = None,
    device: DeviceOpt = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a linear.json of another protocol")
    ] = False,
) -> None:
    """Linear classification on frozen features (the paper's protocol), written to linear.json."""
    from mocobench.evaluate.linear import evaluate_pretrained

    result, path = evaluate_pretrained(
        pretrained, scale, data, seed, trials, out_dir, device, overwrite, workers
    )
    std = f" +- {result['top1_std']:.2f}" if result["n"] > 1 else ""
    out.print(
        f"[bold green]linear[/] ({result['scale']}, n={result['n']}): top-1 {result['top1']:.2f}%{std}  "
        f"top-5 {result['top5']:.2f}%  -> {path}"
    )


@app.command("detect-voc")
def detect_voc(
    pretrained: Annotated[
        str,
        typer.Option(
            "--pretrained",
            help="Finished run folder, a checkpoint (ours, official MoCo, state_dict), or 'random'",
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="VOCdevkit folder (VOC2007 + VOC2012); default: the embedded VOC set"),
    ] = None,
    scale: EvalScaleOpt = None,
    seed: TrialSeedOpt = 0,
    trials: Annotated[int, typer.Option("--trials", help="Fine-tuning trials (the paper: 5)")] = 1,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for voc.json; default: the run folder")
    ] = None,
    arch: Annotated[
        str | None, typer.Option("--arch", help="Backbone for --pretrained random; default: the scale's")
    ] = None,
    device: DeviceOpt = "auto",
    keep_weights: Annotated[
        bool, typer.Option("--keep-weights", help="Keep each trial's model_final.pth (large)")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a voc.json of another protocol or init")
    ] = False,
) -> None:
    """Fine-tune Faster R-CNN R50-C4 on VOC 07+12 through Detectron2 and score VOC07 test (voc.json)."""
    from mocobench.detection.finetune import detect_voc as run

    result, path = run(pretrained, data, scale, seed, trials, out_dir, device, overwrite, keep_weights, arch)
    if not result:  # not the main process of a torchrun job
        return
    figures = "  ".join(
        f"{m} {result[m]:.1f}" + (f" +- {result[m + '_std']:.1f}" if result["n"] > 1 else "")
        for m in ("AP50", "AP", "AP75")
    )
    out.print(f"[bold green]VOC[/] ({result['scale']}, n={result['n']}): {figures}  -> {path}")


@app.command("voc-eval")
def voc_eval(
    data: Annotated[Path, typer.Option("--data", help="VOC2007 folder or the VOCdevkit holding it")],
    detections: Annotated[
        Path, typer.Option("--detections", help="Folder of <class>.txt: image_id score x1 y1 x2 y2")
    ],
    split: Annotated[
        str, typer.Option("--split", help="Image set: ImageSets/Main/<split>.txt, or a path to a .txt")
    ] = "test",
    year: Annotated[
        int, typer.Option("--year", help="2007: 11-point AP, as the paper; 2012: all points")
    ] = 2007,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: AP, AP50, AP75, per_class")] = False,
) -> None:
    """Score devkit-format detections with Detectron2's VOC metric (AP, AP50, AP75, per-class AP50)."""
    from mocobench.detection.voc_eval import evaluate_folder, format_report

    result = evaluate_folder(data, split, year, detections)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        out.print(format_report(result))


def _write_table(number: int, scale: str, runs: Path, out_dir: Path) -> None:
    from mocobench.results.store import collect
    from mocobench.tables.assemble import build_table
    from mocobench.tables.curves import plot_run_curves
    from mocobench.tables.render import rich_table, write_table

    store = collect(runs)
    for run in store.runs.itertuples():  # training curves of every run shown, drawn where missing
        if run.scale == scale and run.epochs_done > 0 and not (Path(run.run_dir) / "curves.png").is_file():
            plot_run_curves(Path(run.run_dir))
    result = build_table(number, store, scale, str(runs))
    paths = write_table(result, out_dir)
    out.print(rich_table(result))
    for note in result.notes:
        out.print(f"- {note}", highlight=False)
    out.print("wrote " + ", ".join(str(p) for p in paths))


@app.command()
def table(
    number: Annotated[int, typer.Argument(help="Paper table: 1 (ablation) or 2 (MoCo vs SimCLR)")],
    scale: ScaleOpt = "paper",
    runs: RunsOpt = None,
    out_dir: TablesOpt = Path("tables"),
) -> None:
    """Assemble a paper table from the runs, beside the paper's figures (CSV, markdown, PNG)."""
    _write_table(number, scale, runs_root(runs), out_dir)


@reproduce_app.command("table")
def reproduce_table(
    number: Annotated[int, typer.Argument(help="Paper table: 1 or 2")],
    scale: ScaleOpt = "paper",
    trials: Annotated[int, typer.Option("--trials", help="Pre-training seeds per row (0..N-1)")] = 1,
    runs: RunsOpt = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="ImageNet-layout folder; default: the embedded dataset")
    ] = None,
    recipes: Annotated[
        str | None, typer.Option("--recipes", help="Only these rows' recipes, comma-separated")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the steps and rough durations; run nothing")
    ] = False,
    voc_data: Annotated[
        Path | None,
        typer.Option("--voc-data", help="VOCdevkit for Table 1's VOC columns; default: the embedded VOC set"),
    ] = None,
    detection: Annotated[
        bool, typer.Option("--detection/--no-detection", help="Table 1: also fine-tune on VOC per row")
    ] = True,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    out_dir: TablesOpt = Path("tables"),
) -> None:
    """Pre-train and evaluate every row still missing (finished steps are skipped; rerun to resume)."""
    from mocobench.reproduce import format_seconds, plan, run_plan

    root = runs_root(runs)
    only = [r.strip() for r in recipes.split(",") if r.strip()] if recipes else None
    steps = plan(number, scale, trials, root, data, only, detection)
    todo = [s for s in steps if s.state != "done"]
    grid = Table(title=f"reproduce table {number} at scale {scale}: {len(todo)} of {len(steps)} steps to run")
    for col in ("row", "recipe", "seed", "step", "state", "detail", "estimate"):
        grid.add_column(col)
    for s in steps:
        estimate = "-" if s.state == "done" else format_seconds(s.estimate_s)
        grid.add_row(s.row, s.recipe, str(s.seed), s.kind, s.state, s.detail, estimate)
    out.print(grid)
    known = [s.estimate_s for s in todo if s.estimate_s is not None]
    unknown = len(todo) - len(known)
    total = format_seconds(sum(known)) if known else "-"
    out.print(
        f"rough total: {total}"
        + (f" + {unknown} steps with no measured speed" if unknown else "")
        + " (estimates from the median measured speed of comparable runs in the store)"
    )
    if dry_run:
        return
    run_plan(
        steps,
        scale,
        data,
        device,
        on_step=lambda s: out.print(f"[bold]{s.kind}[/] {s.recipe} seed {s.seed}"),
        voc_data=voc_data,
    )
    _write_table(number, scale, root, out_dir)


@export_app.command("detectron2")
def export_detectron2(
    checkpoint: Annotated[
        Path, typer.Argument(help="Run folder or checkpoint (ours, official MoCo, ResNet)")
    ],
    out_file: Annotated[Path, typer.Argument(help="Output .pkl for Detectron2's MODEL.WEIGHTS")],
) -> None:
    """Convert a backbone to Detectron2's ResNet naming (as the official MoCo converter)."""
    from mocobench.detection.export import export_detectron2 as run_export

    path, count = run_export(checkpoint, out_file)
    out.print(f"wrote {path} ({count} tensors, Detectron2 ResNet naming, matching_heuristics)")


@data_app.command("synth")
def data_synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write")],
    voc: Annotated[
        bool, typer.Option("--voc", help="Write the detection set (VOCdevkit layout) instead")
    ] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    train_per_class: Annotated[int, typer.Option("--train-per-class", help="Classification only")] = 400,
    val_per_class: Annotated[int, typer.Option("--val-per-class", help="Classification only")] = 100,
    trainval: Annotated[
        int, typer.Option("--trainval", help="Detection only: trainval images per year (2007, 2012)")
    ] = 500,
    test: Annotated[int, typer.Option("--test", help="Detection only: VOC2007 test images")] = 200,
    image_size: Annotated[
        int | None, typer.Option("--image-size", help="Pixels; default 64 (classification), 96 (--voc)")
    ] = None,
) -> None:
    """Write a generated shapes dataset (the embedded defaults) to any folder."""
    if min(train_per_class, val_per_class, trainval, test) < 1 or (image_size or 16) < 16:
        raise UsageError("image counts must be >= 1 and --image-size >= 16")
    if voc:
        from mocobench.data.voc_synth import VocSynthSpec, write_voc

        spec = VocSynthSpec(seed, image_size or 96, trainval, trainval, test)
        path = write_voc(out_dir, spec) / "VOCdevkit"
    else:
        from mocobench.data.synth import SynthSpec, write_classification

        spec = SynthSpec(seed, image_size or 64, train_per_class, val_per_class)
        path = write_classification(out_dir, spec)
    out.print(f"wrote {path}")


@data_app.command("path")
def data_path(
    voc: Annotated[bool, typer.Option("--voc", help="The detection set's VOCdevkit folder")] = False,
) -> None:
    """Print an embedded dataset's cache folder (generating it on first use)."""
    if voc:
        from mocobench.data.voc_synth import embedded_voc

        print(embedded_voc())
    else:
        from mocobench.data.synth import embedded_dataset

        print(embedded_dataset())


def main() -> None:
    try:
        app()
    except UsageError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted; run the same command again to continue (pretrain: add --resume)")
        sys.exit(130)

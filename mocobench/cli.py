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
bench_app = typer.Typer(
    help="Measure throughput: the data loader and the training step.", no_args_is_help=True
)
app.add_typer(recipes_app, name="recipes")
app.add_typer(data_app, name="data")
app.add_typer(reproduce_app, name="reproduce")
app.add_typer(export_app, name="export")
app.add_typer(bench_app, name="bench")

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
# The input pipeline and the step's fast paths (pretrain, bench step).
LoaderOpt = Annotated[
    str,
    typer.Option(
        "--loader",
        help="auto (ffcv if installed, else torch) | ffcv | torch (decode once, crop twice) | pil (official)",
    ),
]
AugmentOnOpt = Annotated[
    str,
    typer.Option(
        "--augment-on", help="Colour augmentation: auto (device on GPU, loader on CPU) | device | loader"
    ),
]
StepOptionsOpt = Annotated[
    str,
    typer.Option(
        "--step-options",
        help="auto (GPU: channels_last,bf16,fused,compile; CPU: fp32) | fp32 | a comma list | auto,-compile",
    ),
]
BetonOpt = Annotated[
    Path | None,
    typer.Option("--beton", help="ffcv: the training .beton; default: written once into the cache"),
]


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
    loader: LoaderOpt = "auto",
    augment_on: AugmentOnOpt = "auto",
    step_options: StepOptionsOpt = "auto",
    beton: BetonOpt = None,
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
        pipeline = {"loader": loader, "augment_on": augment_on, "step_options": step_options, "beton": beton}
        job = ex.submit(
            PretrainJob(config, str(run_dir), str(data) if data else None, seed, resume, device, pipeline)
        )
        out.print(f"submitted job {job.job_id} ({launcher}, {nodes} x {tasks} tasks); logs in {logs}")
        if launcher == "slurm":
            return
        summary = job.results()[0]  # local: wait, as a foreground run would
    else:
        summary = run_pretrain(
            config, run_dir, data=data, seed=seed, resume=resume, device=device, loader=loader,
            augment_on=augment_on, step_options=step_options, beton=beton,
        )  # fmt: skip
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


ProfileOpt = Annotated[
    Path | None,
    typer.Option(
        "--profile", help="Table 3: the `mocobench profile` record; default <runs>/profile/table3.json"
    ),
]


@app.command()
def table(
    number: Annotated[
        int, typer.Argument(help="Paper table: 1 (ablation), 2 (MoCo vs SimCLR), 3 (memory and time)")
    ],
    scale: ScaleOpt = "paper",
    runs: RunsOpt = None,
    out_dir: TablesOpt = Path("tables"),
    profile_path: ProfileOpt = None,
) -> None:
    """Assemble a paper table from the runs (Table 3: from the profile), beside the paper's figures."""
    if number == 3:
        _write_table3(profile_path or runs_root(runs) / "profile" / "table3.json", out_dir)
        return
    _write_table(number, scale, runs_root(runs), out_dir)


def _write_table3(profile_path: Path, out_dir: Path) -> None:
    from mocobench.tables.table3 import build_table3, display_frame, markdown, read_profile, write_table3

    table3 = build_table3(read_profile(profile_path))
    shown = display_frame(table3)
    view = Table(title=f"Table 3 on {table3.record['device']['device']}")
    for col in shown.columns:
        view.add_column(col, justify="right")
    for row in shown.itertuples(index=False):
        view.add_row(*row)
    out.print(view)
    ratio_lines = [line for line in markdown(table3).splitlines() if line.startswith(("| memory", "| time"))]
    out.print("MoCo / end-to-end at 256 (paper | ours): " + "; ".join(ratio_lines), highlight=False)
    for note in table3.notes:
        out.print(f"- {note}", highlight=False)
    paths = write_table3(table3, out_dir)
    out.print("wrote " + ", ".join(str(p) for p in paths))


def _int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise UsageError(f"{option} takes a comma list of positive integers such as 8,16,32 (got {text!r})")
    return values


@app.command()
def profile(
    device: DeviceOpt = "auto",
    arch: Annotated[str, typer.Option("--arch", help="Encoder (the paper: resnet50)")] = "resnet50",
    image_size: Annotated[int, typer.Option("--image-size", help="Pixels (the paper: 224)")] = 224,
    steps: Annotated[int, typer.Option("--steps", help="Timed iterations per configuration")] = 3,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed iterations first")] = 1,
    fit_batches: Annotated[
        str, typer.Option("--fit-batches", help="Per-GPU batches measured for the memory/time lines")
    ] = "8,16,32",
    options: Annotated[
        str, typer.Option("--options", help="Step options: fp32 (the paper's V100 setting), auto, or a list")
    ] = "fp32",
    runs: RunsOpt = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Profile record; default <runs>/profile/table3.json")
    ] = None,
    tables_dir: Annotated[Path, typer.Option("--tables", help="Where table 3 is written")] = Path("tables"),
) -> None:
    """Measure Table 3 (memory per GPU, time per 200 epochs; MoCo vs end-to-end) on this device."""
    from mocobench import atomic
    from mocobench.bench.profile import profile as run_profile
    from mocobench.train.distributed import resolve_device
    from mocobench.train.step import StepOptions

    dev = resolve_device(device)
    record = run_profile(
        dev,
        StepOptions.parse(options, dev),
        arch,
        image_size,
        steps,
        warmup,
        _int_list(fit_batches, "--fit-batches"),
        log=lambda msg: err.print(f"[dim]{msg}[/]"),
    )
    path = out_file or runs_root(runs) / "profile" / "table3.json"
    atomic.write_json(path, record)
    out.print(f"wrote {path}")
    _write_table3(path, tables_dir)


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


@data_app.command("to-ffcv")
def data_to_ffcv(
    data: Annotated[
        Path | None, typer.Option("--data", help="ImageNet-layout folder; default: embedded")
    ] = None,
    out_file: Annotated[
        Path, typer.Option("--out", help="Train .beton; val goes beside it as <name>-val.beton")
    ] = Path("train.beton"),
    split: Annotated[str, typer.Option("--split", help="train | val | all")] = "all",
    max_resolution: Annotated[
        int, typer.Option("--max-resolution", help="Longer side stored, px (ImageNet's median is ~500)")
    ] = 512,
    jpeg_quality: Annotated[int, typer.Option("--jpeg-quality", help="JPEG quality of stored images")] = 90,
    workers: Annotated[int, typer.Option("--workers", help="Encoding processes")] = 2,
) -> None:
    """Write a folder's images once into FFCV .beton files (for `pretrain --loader ffcv --beton`)."""
    from mocobench.data.ffcv_io import require_ffcv, write_beton
    from mocobench.data.folder import list_split, resolve_data

    if split not in ("train", "val", "all"):
        raise UsageError(f"unknown --split {split!r}; use train, val or all")
    if out_file.suffix != ".beton":
        raise UsageError(
            f"--out {out_file} must end in .beton (val is written beside it as <name>-val.beton)"
        )
    require_ffcv()
    root = resolve_data(data)
    targets = {"train": out_file, "val": out_file.with_name(f"{out_file.stem}-val.beton")}
    for name in ("train", "val") if split == "all" else (split,):
        samples, _ = list_split(root, name)
        path = write_beton(
            samples,
            targets[name],
            max_resolution=max_resolution,
            jpeg_quality=jpeg_quality,
            workers=workers,
            source=str(root / name),
        )
        out.print(f"wrote {path} ({len(samples)} images of {root / name})")


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


@bench_app.command("loader")
def bench_loader(
    data: Annotated[
        Path | None, typer.Option("--data", help="ImageNet-layout folder; default: generated 500x375 JPEGs")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Loader workers (processes; FFCV threads)")] = 2,
    batches: Annotated[int, typer.Option("--batches", help="Timed batches per loader")] = 10,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed batches first")] = 2,
    batch: Annotated[int, typer.Option("--batch", help="Pairs per batch")] = 64,
    image_size: Annotated[int, typer.Option("--image-size", help="Crop size, px")] = 224,
    augmentation: Annotated[
        str, typer.Option("--augmentation", help="aug_plus | moco_v1 | simclr")
    ] = "aug_plus",
    loaders: Annotated[
        str, typer.Option("--loaders", help="Which to time; pil is the reference")
    ] = "pil,torch,ffcv",
    augment_on: AugmentOnOpt = "auto",
    device: DeviceOpt = "auto",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures here")] = None,
) -> None:
    """Pairs/s of the official loader (ImageFolder + two-crop aug+ on PIL) and of ours, same images."""
    from mocobench import atomic
    from mocobench.bench.images import bench_images
    from mocobench.bench.loader import bench_loader as run_bench
    from mocobench.data.folder import resolve_data
    from mocobench.data.pairs import LOADERS
    from mocobench.train.distributed import resolve_device

    kinds = tuple(k.strip() for k in loaders.split(",") if k.strip())
    bad = [k for k in kinds if k not in LOADERS or k == "auto"]
    if bad or not kinds:
        raise UsageError(f"unknown loader {bad[0] if bad else loaders!r} in --loaders; use pil, torch, ffcv")
    dev = resolve_device(device)
    root = resolve_data(data) if data else bench_images()
    record = run_bench(
        root, dev, workers, batch, batches, warmup, image_size, augmentation, kinds, augment_on,
        log=lambda m: err.print(f"[dim]{m}[/]"),
    )  # fmt: skip
    view = Table(title=f"bench loader: {record['device']}, {workers} workers, batch {batch}, {image_size} px")
    for col in ("loader", "colour on", "pairs/s", "x reference"):
        view.add_column(col, justify="right")
    for kind, r in record["loaders"].items():
        if "skipped" in r:
            view.add_row(kind, "-", r["skipped"], "-")
            continue
        ratio = r.get("ratio_to_reference")
        view.add_row(kind, r["augment_on"], f"{r['pairs_per_s']:.1f}", f"{ratio:.2f}" if ratio else "-")
    out.print(view)
    out.print(f"images: {record['data']} ({record['images']}), {augmentation}", highlight=False)
    if json_out:
        atomic.write_json(json_out, record)


@bench_app.command("step")
def bench_step(
    recipe: Annotated[str, typer.Option("--recipe", help="Recipe (its model, T, K, head)")] = "mlp+aug+cos",
    scale: ScaleOpt = "paper",
    set_: SetOpt = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Batch; default the recipe's")] = None,
    steps: Annotated[int, typer.Option("--steps", help="Timed steps")] = 20,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed steps first (compile, autotune)")] = 3,
    options: Annotated[
        str, typer.Option("--options", help="auto (GPU: all on) | fp32 | comma list | auto,-compile")
    ] = "auto",
    loader: Annotated[
        str,
        typer.Option(
            "--loader", help="Real-loader run too: auto | ffcv | torch | pil | none (synthetic only)"
        ),
    ] = "auto",
    augment_on: AugmentOnOpt = "auto",
    data: Annotated[
        Path | None, typer.Option("--data", help="ImageNet-layout folder; default: embedded")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Loader workers; default the scale's")
    ] = None,
    device: DeviceOpt = "auto",
    check_loss: Annotated[
        bool, typer.Option("--check-loss/--no-check-loss", help="Compare with fp32")
    ] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures here")] = None,
) -> None:
    """Training-step pairs/s and peak memory: synthetic inputs on the device, then the real loader."""
    from mocobench import atomic
    from mocobench.bench.step import bench_step as run_bench
    from mocobench.config.recipes import resolve
    from mocobench.train.distributed import resolve_device
    from mocobench.train.environment import device_name
    from mocobench.train.step import StepOptions

    overrides = list(set_ or [])
    if batch:
        overrides.append(f"batch_size={batch}")
    if workers is not None:
        overrides.append(f"workers={workers}")
    config = resolve(recipe, scale, overrides)
    if config["mechanism"] == "supervised":
        raise UsageError("bench step measures the contrastive step; pick a MoCo or end-to-end recipe")
    dev = resolve_device(device)
    opts = StepOptions.parse(options, dev)
    record = run_bench(
        config, dev, opts, steps, warmup, loader, augment_on, data, check_loss,
        log=lambda m: err.print(f"[dim]{m}[/]"),
    )  # fmt: skip
    record.update(recipe=recipe, scale=scale, device=device_name(dev), arch=config["arch"])
    view = Table(
        title=f"bench step: {recipe} ({config['arch']}, {config['image_size']} px, batch {record['batch']}) "
        f"on {record['device']}, options {record['step_options']}"
    )
    for col in ("inputs", "pairs/s", "s/step", "peak memory (GiB)", "memory kind", "loss first→last"):
        view.add_column(col, justify="right")
    for key in ("synthetic", "loader"):
        if key in record:
            r = record[key]
            name = key if key == "synthetic" else f"loader ({record['pipeline']['loader']})"
            gib = r["peak_bytes"] / 2**30
            view.add_row(
                name, f"{r['pairs_per_s']:.1f}", f"{r['seconds_per_step']:.3f}", f"{gib:.2f}",
                r["memory_kind"], f"{r['loss_first']:.3f}→{r['loss_last']:.3f}",
            )  # fmt: skip
    out.print(view)
    if "loss_check" in record:
        c = record["loss_check"]
        out.print(
            f"loss vs fp32: {c['loss_options']:.5f} vs {c['loss_fp32']:.5f} (relative {c['rel_diff']:.2e})"
        )
    if "loader_over_synthetic" in record:
        out.print(f"real loader / synthetic: {record['loader_over_synthetic']:.2f}")
    if json_out:
        atomic.write_json(json_out, record)


def main() -> None:
    try:
        app()
    except UsageError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted; run the same command again to continue (pretrain: add --resume)")
        sys.exit(130)

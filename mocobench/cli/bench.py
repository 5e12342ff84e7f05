"""`mocobench bench loader|views|step` and `mocobench profile`: measured throughput, memory and Table 3."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mocobench.cli.common import AugmentOnOpt, DeviceOpt, RunsOpt, ScaleOpt, SetOpt, echo, out, say, writable
from mocobench.cli.help import Command, Group
from mocobench.cli.tables import show_table3

bench_app = typer.Typer(
    cls=Group, help="Measure throughput: the data loader and the training step.", no_args_is_help=True
)


def _json_file(value: Path | None) -> Path | None:
    """--json is checked when parsed, before anything is measured (common.py::writable)."""
    return None if value is None else writable(value, "--json", folder=False)


JsonOpt = Annotated[
    Path | None, typer.Option("--json", help="Also write the figures here", callback=_json_file)
]
BenchDataOpt = Annotated[
    str | None,
    typer.Option("--data", help="Folder or FORMAT:PATH (as pretrain's); default: generated 500x375 JPEGs"),
]


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
    from mocobench.bench.profile import parse_fit_batches
    from mocobench.bench.profile import profile as run_profile
    from mocobench.results import layout
    from mocobench.runtime import atomic
    from mocobench.runtime.distributed import resolve_device
    from mocobench.runtime.step_options import StepOptions

    batches = parse_fit_batches(fit_batches)
    path = writable(out_file or layout.profile_record(runs), "--out" if out_file else "--runs", folder=False)
    writable(tables_dir, "--tables")
    dev = resolve_device(device)
    record = run_profile(
        dev, StepOptions.parse(options, dev), arch, image_size, steps, warmup, batches, log=say
    )
    atomic.write_json(path, record)
    echo(f"wrote {path}")
    show_table3(path, tables_dir)


@bench_app.command("loader", cls=Command)
def bench_loader(
    data: BenchDataOpt = None,
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
    json_out: JsonOpt = None,
) -> None:
    """Pairs/s of the official loader (ImageFolder + two-crop aug+ on PIL) and of ours, same images."""
    from mocobench.bench.images import bench_images
    from mocobench.bench.loader import bench_loader as run_bench
    from mocobench.bench.loader import parse_loaders, rich_table
    from mocobench.data.sources import open_data
    from mocobench.runtime import atomic
    from mocobench.runtime.distributed import resolve_device

    kinds = parse_loaders(loaders)
    dev = resolve_device(device)
    root = open_data(data).root if data else bench_images()
    record = run_bench(
        root, dev, workers, batch, batches, warmup, image_size, augmentation, kinds, augment_on, log=say
    )
    out.print(rich_table(record))
    echo(f"images: {record['data']} ({record['images']}), {augmentation}")
    if json_out:
        atomic.write_json(json_out, record)


@bench_app.command("views", cls=Command)
def bench_views(
    data: BenchDataOpt = None,
    images: Annotated[int, typer.Option("--images", help="Images compared (one view each)")] = 64,
    image_size: Annotated[int, typer.Option("--image-size", help="View size, px")] = 224,
    augmentation: Annotated[str, typer.Option("--augmentation", help="aug_plus | moco_v1")] = "aug_plus",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the drawn parameters")] = 0,
    source_size: Annotated[
        int | None,
        typer.Option(
            "--source-size", help="Generated N x N px sources, not 500x375 (32: CIFAR's; crops enlarged)"
        ),
    ] = None,
    json_out: JsonOpt = None,
) -> None:
    """How far each loader's views are from the official PIL pipeline's, for the same parameters."""
    from mocobench.bench.views import bench_views as run_views
    from mocobench.bench.views import rich_table, sources
    from mocobench.runtime import atomic

    root = sources(data, source_size)
    record = run_views(root, images, image_size, augmentation, seed, log=say)
    out.print(rich_table(record))
    echo(f"images: {record['data']}; ffcv: {record['ffcv']}")
    if json_out:
        atomic.write_json(json_out, record)


@bench_app.command("step", cls=Command)
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
        str | None, typer.Option("--data", help="Folder or FORMAT:PATH (as pretrain's); default: embedded")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Loader workers; default the scale's")
    ] = None,
    device: DeviceOpt = "auto",
    check_loss: Annotated[
        bool, typer.Option("--check-loss/--no-check-loss", help="Compare with fp32")
    ] = True,
    json_out: JsonOpt = None,
) -> None:
    """Training-step pairs/s and peak memory: synthetic inputs on the device, then the real loader."""
    from mocobench.bench.step import bench_step as run_bench
    from mocobench.bench.step import rich_table, summary_lines
    from mocobench.run.config import resolve
    from mocobench.runtime import atomic
    from mocobench.runtime.distributed import resolve_device
    from mocobench.runtime.step_options import StepOptions

    overrides = list(set_ or [])
    if batch:
        overrides.append(f"batch_size={batch}")
    if workers is not None:
        overrides.append(f"workers={workers}")
    config = resolve(recipe, scale, overrides)
    dev = resolve_device(device)
    opts = StepOptions.parse(options, dev)
    record = run_bench(config, dev, opts, steps, warmup, loader, augment_on, data, check_loss, log=say)
    out.print(rich_table(record))
    for line in summary_lines(record):
        out.print(line)
    if json_out:
        atomic.write_json(json_out, record)

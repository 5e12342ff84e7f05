"""`mocobench data`: the embedded datasets, and folders written once into FFCV .beton files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mocobench.cli.common import echo, writable
from mocobench.cli.help import Command, Group
from mocobench.errors import UsageError

data_app = typer.Typer(cls=Group, help="The embedded dataset and data folders.", no_args_is_help=True)


@data_app.command("synth", cls=Command)
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
    writable(out_dir)
    if voc:
        from mocobench.data.voc_synth import VocSynthSpec, write_voc

        spec = VocSynthSpec(seed, image_size or 96, trainval, trainval, test)
        path = write_voc(out_dir, spec) / "VOCdevkit"
    else:
        from mocobench.data.synth import SynthSpec, write_classification

        spec = SynthSpec(seed, image_size or 64, train_per_class, val_per_class)
        path = write_classification(out_dir, spec)
    echo(f"wrote {path}")


@data_app.command("to-ffcv", cls=Command)
def data_to_ffcv(
    data: Annotated[
        str | None, typer.Option("--data", help="Folder or FORMAT:PATH (as pretrain's); default: embedded")
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
    from mocobench.data.sources import open_data
    from mocobench.loading.ffcv_writer import write_folder_betons

    writable(out_file, folder=False)
    root = open_data(data).root
    for path, count, source in write_folder_betons(
        root, out_file, split, max_resolution, jpeg_quality, workers
    ):
        echo(f"wrote {path} ({count} images of {source})")


@data_app.command("path", cls=Command)
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

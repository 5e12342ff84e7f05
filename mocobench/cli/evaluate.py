"""`mocobench linear`, `detect-voc`, `voc-eval` and `export`: scoring a pre-trained backbone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mocobench.cli.common import (
    DeviceOpt,
    EvalScaleOpt,
    FormatOpt,
    TrialSeedOpt,
    TrustOpt,
    WandbOpt,
    WandbProjectOpt,
    echo,
    out,
    writable,
)
from mocobench.cli.help import Command, Group

# The checkpoint and the data of the evaluations (linear, knn): one declaration each.
PretrainedOpt = Annotated[
    Path,
    typer.Option("--pretrained", help="Finished run folder, or a checkpoint of any layout --format names"),
]
EvalDataOpt = Annotated[
    str | None,
    typer.Option(
        "--data", help="Folder or FORMAT:PATH (as pretrain's); default: the run's data, else embedded"
    ),
]

ExportSourceArg = Annotated[
    Path, typer.Argument(help="Run folder or checkpoint (ours, official MoCo, another tool's: --format)")
]
export_app = typer.Typer(
    cls=Group, help="Convert pre-trained weights for other frameworks.", no_args_is_help=True
)


def linear(
    pretrained: PretrainedOpt,
    data: EvalDataOpt = None,
    scale: EvalScaleOpt = None,
    seed: TrialSeedOpt = 0,
    trials: Annotated[int, typer.Option("--trials", help="Independent linear trials (mean +- std)")] = 1,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the result file; default: the run folder"),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            "--protocol",
            help="recipes/<name>.toml: linear (MoCo's main_lincls.py) or linear-simclr (SimCLR v1's); "
            "default: the one the run's recipe names",
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Loader processes")] = None,
    device: DeviceOpt = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace results of another checkpoint, setting or data")
    ] = False,
    trust: TrustOpt = False,
    wandb: WandbOpt = False,
    wandb_project: WandbProjectOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Linear classification on frozen features, written to <protocol>.json (linear.json by default).

    One process, or `torchrun --nproc_per_node N -m mocobench linear ...` to split each batch over N.
    """
    from mocobench.evaluate.linear import evaluate_pretrained

    if out_dir is not None:
        writable(out_dir)
    result, path = evaluate_pretrained(
        pretrained,
        scale,
        data,
        seed,
        trials,
        out_dir,
        device,
        overwrite,
        workers,
        trust=trust,
        protocol=protocol,
        wandb=wandb,
        wandb_project=wandb_project,
        fmt=fmt,
    )
    if result is None:  # a torchrun worker other than rank 0: rank 0 reports
        return
    std = f" +- {result['top1_std']:.2f}" if result["n"] > 1 else ""
    echo(
        (result["protocol"]["name"], "bold green"),
        f" ({result['scale']}, n={result['n']}): top-1 {result['top1']:.2f}%{std}  "
        f"top-5 {result['top5']:.2f}%  -> {path}",
    )


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
    trust: TrustOpt = False,
    wandb: WandbOpt = False,
    wandb_project: WandbProjectOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Fine-tune Faster R-CNN R50-C4 on VOC 07+12 through Detectron2 and score VOC07 test (voc.json)."""
    from mocobench.detection.finetune import detect_voc as run

    if out_dir is not None:
        writable(out_dir)
    result, path = run(
        pretrained, data, scale, seed, trials, out_dir, device, overwrite, keep_weights, arch, trust=trust,
        wandb=wandb, wandb_project=wandb_project, fmt=fmt,
    )  # fmt: skip
    if not result:  # not the main process of a torchrun job
        return
    figures = "  ".join(
        f"{m} {result[m]:.1f}" + (f" +- {result[m + '_std']:.1f}" if result["n"] > 1 else "")
        for m in ("AP50", "AP", "AP75")
    )
    echo(("VOC", "bold green"), f" ({result['scale']}, n={result['n']}): {figures}  -> {path}")


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


@export_app.command("detectron2", cls=Command)
def export_detectron2(
    checkpoint: ExportSourceArg,
    out_file: Annotated[Path, typer.Argument(help="Output .pkl for Detectron2's MODEL.WEIGHTS")],
    trust: TrustOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """Convert a backbone to Detectron2's ResNet naming (as the official MoCo converter)."""
    from mocobench.detection.export import export_detectron2 as run_export

    path, count = run_export(checkpoint, writable(out_file, "OUT", folder=False), trust, fmt)
    echo(f"wrote {path} ({count} tensors, Detectron2 ResNet naming, matching_heuristics)")


@export_app.command("torchvision", cls=Command)
def export_torchvision(
    checkpoint: ExportSourceArg,
    out_file: Annotated[Path, typer.Argument(help="Output .pth: a torchvision ResNet state_dict, no fc")],
    trust: TrustOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """Write the backbone as a plain torchvision state_dict (load with strict=False: only fc.* missing)."""
    from mocobench.evaluate.export import export_torchvision as run_export

    path, count, arch = run_export(checkpoint, writable(out_file, "OUT", folder=False), trust, fmt)
    echo(
        f"wrote {path} ({count} tensors, torchvision.models.{arch}() keys, no fc: "
        "load_state_dict(sd, strict=False))"
    )


def knn(
    pretrained: PretrainedOpt,
    data: EvalDataOpt = None,
    scale: EvalScaleOpt = None,
    k: Annotated[int, typer.Option("--k", help="Neighbours that vote")] = 200,
    t: Annotated[float, typer.Option("--t", help="Temperature of the votes' weights exp(sim / t)")] = 0.1,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for knn.json; default: beside linear.json")
    ] = None,
    device: DeviceOpt = "auto",
    trust: TrustOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """Weighted kNN on frozen features (train/ the bank, val/ the queries), written to knn.json."""
    from mocobench.evaluate.knn import evaluate_knn

    if out_dir is not None:
        writable(out_dir)
    result, path = evaluate_knn(pretrained, scale, data, k, t, out_dir, device, trust, fmt)
    echo(
        ("kNN", "bold green"),
        f" ({result['format']}, k={result['k']}, t={result['t']}, {result['image_size']} px): "
        f"top-1 {result['top1']:.2f}%  top-5 {result['top5']:.2f}%  -> {path}",
    )

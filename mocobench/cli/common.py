"""What every command shares: the two consoles, printing user text as given, the check of a path a command
will write, and the option types (one help text per option)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from mocobench.errors import UsageError

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


def printable(text: str) -> str:
    """`text` with each byte of a non-UTF-8 file name (Python's surrogate escapes) shown as \\xNN, so
    that printing it cannot fail."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that no byte escapes to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def line(*parts: object) -> Text:
    """One line of user text exactly as given: each part (a path, a message) is literal, with no Rich markup
    (`[red]` in a path is part of the name), no `:emoji:` codes and no highlighting; a `(text, style)`
    pair is styled."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(printable(str(part[0])), style=part[1])
        else:
            text.append(printable(str(part)))
    return text


def echo(*parts: object, console: Console | None = None) -> None:
    """Print `line(*parts)` on stdout (or `console`), never wrapped inside a path."""
    (console or out).print(line(*parts), soft_wrap=True)


def say(message: str) -> None:
    """Progress messages of a library call, dimmed on stderr."""
    echo((message, "dim"), console=err)


def writable(path: Path, option: str = "--out", folder: bool = True) -> Path:
    """`path` once a command can write it: a UTF-8 name (result files record it as JSON text), under
    folders only, a folder (`folder`) or a file name, on a file system this process may write. Checked
    before anything is written by creating and removing a probe file in the nearest existing folder (which
    also holds for root, whom permission bits do not stop: a read-only mount, a path under a regular file).
    """
    path = Path(path)
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"{option} {printable(str(path))} is not a UTF-8 name (the result files record it as JSON "
            "text); pass a path whose name is UTF-8"
        ) from None
    kind = "folder" if folder else "file"
    target = path.absolute()
    try:  # the nearest part of the path that exists ("/" at least)
        existing = next(p for p in (target, *target.parents) if p.exists() or p.is_symlink())
    except OSError as e:
        raise UsageError(
            f"{option} {path}: cannot write it ({e.strerror}); pass a {kind} you may write"
        ) from e
    if existing != target and not existing.is_dir():
        raise UsageError(
            f"{option} {path}: cannot write it ({existing} is a file, not a folder); pass a {kind} path "
            "under a folder"
        )
    if existing == target and folder and not existing.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder; pass a folder path")
    if existing == target and not folder:
        if existing.is_dir():
            raise UsageError(f"{option} {path} is a folder; pass a file name such as {path / 'out'}")
        existing = target.parent  # a file to replace: its folder is what must be writable
    try:
        fd, probe = tempfile.mkstemp(prefix=".mocobench-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(
            f"{option} {path}: cannot write it ({existing}: {e.strerror}); pass a {kind} you may write"
        ) from e
    return path


def _scale_name(value: str | None) -> str | None:
    """`--scale mini` (the CPU tier's old name) still works, and says what it is now called."""
    from mocobench.config.scales import ALIASES

    if value in ALIASES:
        err.print(f"[dim]--scale {value} is now called {ALIASES[value]}[/]")
        return ALIASES[value]
    return value


SCALE_HELP = "paper | gpu | cpu | smoke: the tier's compute (never the row's knob; docs/recipes.md)"
ScaleOpt = Annotated[str, typer.Option("--scale", help=SCALE_HELP, callback=_scale_name)]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a setting: --set key=value (repeatable)")
]
RunsOpt = Annotated[
    Path | None,
    typer.Option("--runs", help="Runs folder (the result store); default $MOCOBENCH_RUNS or ./runs"),
]
TablesOpt = Annotated[Path, typer.Option("--out", help="Folder for table<N>[_<scale>].csv/.md/.png")]
ProfileOpt = Annotated[
    Path | None,
    typer.Option(
        "--profile", help="Table 3: the `mocobench profile` record; default <runs>/profile/table3.json"
    ),
]
# Options shared by the evaluations (linear, detect-voc).
EvalScaleOpt = Annotated[
    str | None,
    typer.Option("--scale", help="paper | gpu | cpu | smoke; default: the run's scale", callback=_scale_name),
]
TrialSeedOpt = Annotated[int, typer.Option("--seed", help="Seed of trial 0 (trial i uses seed + i)")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda")]
# The input pipeline and the step's fast paths (pretrain, bench step).
PipelineOpt = Annotated[
    str,
    typer.Option(
        "--pipeline",
        help="fast (the options below) | official (the official code's: pil loader, fp32, no compile)",
    ),
]
LoaderOpt = Annotated[
    str | None,
    typer.Option(
        "--loader",
        help="auto (ffcv if installed, else torch) | ffcv | torch (decode once, crop twice) | pil (official)",
        show_default="auto",
    ),
]
AugmentOnOpt = Annotated[
    str | None,
    typer.Option(
        "--augment-on",
        help="Colour augmentation: auto (device on GPU, loader on CPU) | device | loader",
        show_default="auto",
    ),
]
StepOptionsOpt = Annotated[
    str | None,
    typer.Option(
        "--step-options",
        help="auto (GPU: channels_last,bf16,fused,compile; CPU: fp32) | fp32 | a comma list | auto,-compile",
        show_default="auto",
    ),
]
BetonOpt = Annotated[
    Path | None,
    typer.Option("--beton", help="ffcv: the training .beton; default: written once into the cache"),
]
TrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust-checkpoint",
        help="Load a checkpoint that holds more than tensors and plain data: this RUNS the code it carries",
    ),
]
DATA_HELP = (
    "An ImageNet-layout folder, or FORMAT:PATH with FORMAT cifar10 | cifar100 | stl10 | imagenet100 | "
    "mnist | fashion-mnist (the files as their authors distribute them); default: the embedded dataset"
)
DataOpt = Annotated[str | None, typer.Option("--data", help=DATA_HELP)]
# Logging (pretrain, linear, detect-voc): TensorBoard always, W&B on request (docs/logging.md).
WandbOpt = Annotated[
    bool,
    typer.Option(
        "--wandb/--no-wandb",
        help="Also log to Weights & Biases (pip install 'mocobench[wandb]'); offline without key or network",
    ),
]
WandbProjectOpt = Annotated[
    str | None, typer.Option("--wandb-project", help="W&B project", show_default="mocobench")
]
# The checkpoint's layout (linear, detect-voc, knn, export detectron2; docs/checkpoints.md).
FORMAT_HELP = (
    "Checkpoint layout: mocobench | vissl | lightly | solo-learn | mmselfsup | moco-v3 | moco | timm | "
    "torchvision; default: detected from the file"
)
FormatOpt = Annotated[str | None, typer.Option("--format", help=FORMAT_HELP, show_default="auto")]

"""The check's options, checked once for both front ends: `mocobench check` (Typer) and the argparse
`main` that `scripts/gpu_check.py` runs (no Typer needed there)."""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mocobench.check.sizes import STAGES
from mocobench.errors import UsageError

DESCRIPTION = (
    "Check an installation on a GPU machine (any CUDA machine, a node with no network included): every GPU "
    "path of mocobench as a time-capped stage, in priority order, in one report rewritten after every stage."
)
DEFAULT_REPORT = Path("tables/gpu-check")
DEFAULT_BUDGET = 780.0  # seconds: 13 minutes, the whole run's (set-up included)
DEFAULT_WHEELS = Path(".whl")  # what `make offline-wheels` writes
HELP = {
    "device": "cuda: the real sizes on this machine's GPU; cpu: every stage as a smoke on tiny data",
    "report": "Folder for gpu_check.json and gpu_check.md (rewritten after every stage)",
    "budget": "Seconds for the whole run; a stage gets min(its cap, budget left)",
    "data": "ImageNet-layout folder; default the embedded set (cpu: a tiny generated one)",
    "wheels": "Wheels to pip-install into /tmp/site first, for a node with no network (default .whl if it "
    "exists; none: install nothing)",
    "work": "Run folders and logs, new or empty (default a temporary folder)",
    "stages": f"Comma list of stages to run, always in priority order (default all: {','.join(STAGES)})",
    "no_caps": "Every stage runs to its end, whatever the budget and caps (the test suite's CPU smoke: it "
    "checks the stages' work, never how fast a machine does it)",
    "fetch_wheels": "Download here (with network) the wheels a GPU node with no network lacks into DIR, "
    "then exit",
}


@dataclass
class Options:
    """A checked set of options: paths absolute, stages known and in priority order, work new or empty."""

    device: str
    report: Path
    budget: float
    data: Path | None
    wheels: str | None
    work: Path
    stages: list[str]
    no_caps: bool


def parse_stages(text: str) -> list[str]:
    """A comma list of stage names, in priority order whatever order it names them in."""
    selected = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in selected if s not in STAGES]
    if unknown:
        raise UsageError(f"unknown stage {unknown[0]!r}; stages: {', '.join(STAGES)}")
    return [s for s in STAGES if s in selected]


def resolve(
    device: str = "cuda",
    report: Path = DEFAULT_REPORT,
    budget: float = DEFAULT_BUDGET,
    data: Path | None = None,
    wheels: str | None = None,
    work: Path | None = None,
    stages: str = ",".join(STAGES),
    no_caps: bool = False,
) -> Options:
    """The options as given, checked: a UsageError names the first that cannot be used."""
    if device not in ("cuda", "cpu"):
        raise UsageError(f"--device {device!r}: pass cuda or cpu")
    chosen = parse_stages(stages)
    if work is None:
        work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    elif work.exists() and any(work.iterdir()):
        raise UsageError(f"--work {work} is not empty (run folders are never overwritten)")
    return Options(
        device=device,
        report=report.resolve(),
        budget=budget,
        data=None if data is None else data.resolve(),
        wheels=wheels,
        work=work.resolve(),
        stages=chosen,
        no_caps=no_caps,
    )


def wheels_dir(option: str | None) -> Path | None:
    """The folder of wheels to install: `option`, else .whl when it exists; None for "none"."""
    if option is None:
        return DEFAULT_WHEELS.resolve() if DEFAULT_WHEELS.is_dir() else None
    if option.lower() in ("", "none"):
        return None
    return Path(option).resolve()


def parse_args(argv: list[str] | None = None) -> Options | Path:
    """The argparse front end: checked Options, or the folder of `--fetch-wheels DIR`."""
    p = argparse.ArgumentParser(
        prog="gpu_check.py", description=DESCRIPTION, epilog=f"stages, in priority order: {', '.join(STAGES)}"
    )
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help=HELP["device"])
    p.add_argument("--report", type=Path, default=DEFAULT_REPORT, help=HELP["report"])
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET, help=HELP["budget"])
    p.add_argument("--data", type=Path, help=HELP["data"])
    p.add_argument("--wheels", help=HELP["wheels"])
    p.add_argument("--work", type=Path, help=HELP["work"])
    p.add_argument("--stages", default=",".join(STAGES), help=HELP["stages"])
    p.add_argument("--no-caps", action="store_true", help=HELP["no_caps"])
    p.add_argument("--fetch-wheels", type=Path, metavar="DIR", help=HELP["fetch_wheels"])
    args = p.parse_args(argv)
    try:
        if args.fetch_wheels:
            parse_stages(args.stages)
            return args.fetch_wheels
        return resolve(
            args.device,
            args.report,
            args.budget,
            args.data,
            args.wheels,
            args.work,
            args.stages,
            args.no_caps,
        )
    except UsageError as e:
        p.error(str(e))

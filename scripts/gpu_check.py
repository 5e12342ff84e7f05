#!/usr/bin/env python3
"""The GPU acceptance run: every GPU path of mocobench, time-capped, in one report.

A GPU lease is short (15 minutes of device time, one command of at most 10 minutes) and a GPU machine
has no network, so this script runs the checks that need a GPU in priority order, each as its own
`python -m mocobench ...` subprocess with its own time cap: a hang or a crash is cut, reported, and the
later stages still run. After every stage it rewrites `gpu_check.json` and `gpu_check.md` in `--report`
(atomically), so a run cut from outside still leaves a valid report up to the last finished stage.

    python scripts/gpu_check.py [--device cuda|cpu] [--report DIR] [--budget SECONDS] [--data DIR]
                                [--wheels DIR|none] [--work DIR] [--stages a,b,...]
    python scripts/gpu_check.py --fetch-wheels DIR      # here, with network: what the GPU machine lacks

Stages, in priority order (`--device cpu` runs each as a smoke on tiny data: ~1.5 min on 2 cores):

1. pretrain-fast       smoke pre-training of MoCo v2 with the GPU defaults (loader, colour on the device,
                       bf16, compile): loss, kNN, the pipeline that ran (config.json)
2. pretrain-official   the same with `--pipeline official` (PIL loader, fp32, no compile); both losses
3. bench-step          paper-scale step, batch 256, for fp32 / channels_last,bf16,fused / + compile:
                       pairs/s synthetic and with the loader, peak memory, the loss check against fp32
4. bench-loader        pil / torch / ffcv pairs/s (ffcv has no wheel for the GPU machine: skipped there)
5. profile             Table 3 (written under `--report`/table3)
6. linear              linear protocol on stage 1's run (top-1)
7. detect-voc          Faster R-CNN smoke on a small generated VOC set (skipped without Detectron2)
8. tier                the one-GPU tier's evidence (issue 14): MoCo v1 and row (d) at `--scale gpu`, the
                       budget left shared between them, one seed each: kNN per finished epoch against the
                       random-init kNN, seconds an epoch, and each row's full time at the tier estimated
                       from them; reaching the budget is its planned end ("stopped at budget")

Every figure in the report is read from a file the stage's command wrote (its `--json`, metrics.jsonl,
config.json, linear.json, voc.json, the profile record). Status per stage: passed, failed, timed out,
skipped (with the reason: budget, not selected, a missing dependency), or for tier stopped at budget.
The script exits 1 if any stage failed or timed out (or the set-up failed), 0 otherwise.

`--budget` (default 780 s: a 15-minute lease less the machine's start) is the whole run's; the set-up
(wheels, a probe of the device and imports) runs first whatever it is, then each stage gets min(its cap,
budget left) and is skipped ("budget") when that is below its minimum. One device command may run 600 s
at most, so a single device call passes `--budget 560`, which leaves the report its time. `--stages`
runs a subset (the others are listed as skipped, "not selected").

Wheels. The GPU machine's Python 3.12 (torch 2.11) lacks kornia, kornia_rs, submitit, platformdirs,
Detectron2 and Detectron2's pure-Python dependencies. `--fetch-wheels .whl`, run here with the repo's
.venv (whose versions it pins), downloads them (cp312 manylinux wheels; the few sdist-only ones are built
here into pure-Python wheels; `sal-detectron2` as its cp310 wheel) and prints the total. On the GPU
machine, `--wheels DIR` (default `.whl` when it exists) installs them with pip into /tmp/site
(`--no-index --no-deps --target`; sal-detectron2 with `--python-version 3.10 --only-binary=:all:`, as the
Makefile does) and puts /tmp/site first on the stages' PYTHONPATH. The device-tool call:

    run(command="python3 scripts/gpu_check.py --device cuda --report $OUT/gpu-check --budget 560",
        carry=[".whl"], timeout_s=600)

The script needs only the standard library itself and runs from the repository root without installing
mocobench (the repo root is put on the stages' PYTHONPATH).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import importlib.metadata
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# mocobench from this checkout, not installed; these modules need only the standard library.
sys.path.insert(0, str(REPO))
from mocobench.errors import UsageError  # noqa: E402
from mocobench.results.layout import read_metrics  # noqa: E402
from mocobench.runtime.atomic import write_text  # noqa: E402
from mocobench.runtime.git import git_commit  # noqa: E402

RECIPE = "mlp+aug+cos"
STAGES = (
    "pretrain-fast",
    "pretrain-official",
    "bench-step",
    "bench-loader",
    "profile",
    "linear",
    "detect-voc",
    "tier",
)
PASSED, FAILED, SKIPPED, TIMED_OUT, STOPPED = "passed", "failed", "skipped", "timed out", "stopped at budget"
PENDING, RUNNING = "pending", "running"
BAD = (FAILED, TIMED_OUT)
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of a stage cut at its cap
SITE = Path("/tmp/site")
GIB = 2**30
# a stage runs in its own process group (killpg stops its loader workers too) but in this script's session
OWN_GROUP: dict[str, Any] = (
    {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
)

# What the GPU machine's image lacks (/work/.library/device/KINDS.md); cloudpickle, pyyaml, tabulate, tqdm,
# portalocker, matplotlib, typing-extensions and packaging are there already, so they are not carried.
GPU_MISSING = (
    "kornia",
    "kornia_rs",
    "submitit",
    "platformdirs",
    "fvcore",
    "iopath",
    "pycocotools",
    "yacs",
    "omegaconf",
    "hydra-core",
    "antlr4-python3-runtime",
    "termcolor",
)
DETECTRON2_DIST = "sal-detectron2"  # tagged cp310 only: fetched and installed as Python 3.10's
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
WHEELS_MAX_MIB = 60  # the device tool carries 64 MiB of working tree in all
FFCV_SKIP = "skipped: FFCV not installable here (no wheel, no compiler headers)"


@dataclass(frozen=True)
class Cap:
    """A stage's (or sub-run's) time: the most it may take, and the least worth starting it with."""

    cap: float
    minimum: float


@dataclass(frozen=True)
class Sizes:
    """Per-device options: the GPU's real sizes, or the CPU smoke's tiny ones."""

    pretrain: tuple[str, ...]
    step: tuple[str, ...]
    step_data: bool  # whether bench step runs the real loader (and so takes --data)
    step_options: tuple[str, ...]
    step_skipped: dict[str, str]
    loader: tuple[str, ...]
    loaders: tuple[str, ...]
    profile: tuple[str, ...]
    tier: tuple[str, ...]
    caps: dict[str, Cap]


def _sets(*pairs: str) -> tuple[str, ...]:
    return tuple(a for p in pairs for a in ("--set", p))


def _args(text: str) -> tuple[str, ...]:
    return tuple(shlex.split(text))


def sizes_for(device: str) -> Sizes:
    workers = str(min(16, os.cpu_count() or 1))
    all_options = ("fp32", "channels_last,bf16,fused", "channels_last,bf16,fused,compile")
    if device == "cuda":
        return Sizes(
            pretrain=(),
            step=("--scale", "paper", "--batch", "256", "--loader", "auto", "--workers", workers),
            step_data=True,
            step_options=all_options,
            step_skipped={},
            loader=("--workers", workers, "--batch", "256", "--batches", "20"),
            loaders=("pil", "torch", "ffcv"),
            profile=(),
            tier=(),  # the tier as scales.toml defines it, on the embedded set grown to 50,000 images
            caps={
                "setup": Cap(180, 10),
                "pretrain-fast": Cap(300, 60),  # embedded data on first use (~25 s) and compile
                "pretrain-official": Cap(150, 30),
                "fp32": Cap(150, 40),
                "channels_last,bf16,fused": Cap(150, 40),
                "channels_last,bf16,fused,compile": Cap(300, 90),
                "bench-loader": Cap(150, 30),
                "profile": Cap(240, 60),
                "linear": Cap(120, 20),
                "voc-data": Cap(60, 10),
                "detect-voc": Cap(180, 40),
                "tier": Cap(math.inf, 60),
            },
        )
    return Sizes(
        pretrain=_sets("epochs=1", "batch_size=8", "image_size=16", "moco_k=64"),
        step=_args("--scale smoke --set image_size=32 --batch 16 --steps 2 --warmup 1 --loader none"),
        step_data=False,
        step_options=all_options[:2],
        step_skipped={all_options[2]: "cpu smoke: torch.compile takes minutes on a CPU"},
        loader=_args("--workers 0 --batch 8 --batches 2 --warmup 1 --image-size 32"),
        loaders=("pil", "torch"),
        # per-GPU batches 32 and 512 are Table 3's own, so nothing beyond the two lines' points runs
        profile=_args("--arch resnet18 --image-size 8 --steps 1 --warmup 0 --fit-batches 32,512"),
        # 80 images: batch 4 keeps the tier's 20 steps an epoch (a larger batch is refused)
        tier=_sets("epochs=2", "batch_size=4", "bn_group=4", "image_size=16", "moco_k=64", "workers=0"),
        caps={
            "setup": Cap(60, 5),
            "pretrain-fast": Cap(60, 10),
            "pretrain-official": Cap(60, 10),
            "fp32": Cap(60, 10),
            "channels_last,bf16,fused": Cap(60, 10),
            "bench-loader": Cap(60, 10),
            "profile": Cap(120, 20),
            "linear": Cap(60, 10),
            "voc-data": Cap(30, 5),
            "detect-voc": Cap(90, 15),
            "tier": Cap(math.inf, 10),
        },
    )


def uncapped(sizes: Sizes) -> Sizes:
    """`sizes` with no time limit on any stage (`--no-caps`); the budget no longer skips any either."""
    caps = {name: Cap(math.inf, 0.0) for name in sizes.caps}
    return dataclasses.replace(sizes, caps=caps)


@dataclass
class Stage:
    """One stage's entry in the report."""

    name: str
    status: str = PENDING
    seconds: float = 0.0
    reason: str = ""
    commands: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    log_tail: str = ""


@dataclass
class Outcome:
    """How one command ended: ok, failed, timed out, or skipped (the budget could not give its minimum)."""

    kind: str
    seconds: float = 0.0
    returncode: int | None = None
    timeout: float = 0.0
    minimum: float = 0.0


class Interrupted(BaseException):
    """SIGTERM/SIGINT to this script (a device call cut at its limit, Ctrl-C): stop, report, exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


# ---------------------------------------------------------------------------------------------- files


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a stage's log, colour codes and progress-bar redraws removed."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 65536))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    rows = [r.rstrip()[:300] for r in re.split(r"[\r\n]+", ANSI.sub("", text)) if r.strip()]
    return "\n".join(rows[-lines:])


# --------------------------------------------------------------------------------------------- runner


PROBE = r"""
import importlib, json, os, platform, sys, warnings
out = {"python": sys.version.split()[0], "imports": {}}
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda"] = torch.version.cuda
    out["cuda_available"] = torch.cuda.is_available()
    if sys.argv[1] == "cuda":
        out["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    else:
        cpu = platform.processor() or platform.machine()
        out["device"] = f"CPU ({cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
except Exception as e:
    out["error"] = f"{type(e).__name__}: {e}"
for name in sys.argv[2:]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module(name)
        out["imports"][name] = "ok"
    except Exception as e:
        out["imports"][name] = f"{type(e).__name__}: {e}"[:300]
print("PROBE " + json.dumps(out))
"""


class Check:
    """The run: budget clock, the stages' environment, the report, and the commands."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.t0 = time.monotonic()
        self.args = args
        self.device: str = args.device
        self.sizes = uncapped(sizes_for(self.device)) if args.no_caps else sizes_for(self.device)
        self.report_dir: Path = args.report
        self.work: Path = args.work
        self.logs = self.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.data: Path | None = args.data
        self.env = dict(os.environ)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.env.setdefault("MOCOBENCH_RUNS", str(self.work / "runs"))
        self.pythonpath = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        self.env["PYTHONPATH"] = os.pathsep.join(self.pythonpath)
        self.started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.git = git_commit()
        self.setup: dict[str, Any] = {}
        self.probe: dict[str, Any] = {}
        self.stages = {name: Stage(name) for name in STAGES}
        self.proc: subprocess.Popen[bytes] | None = None

    # -- budget and commands

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def left(self) -> float:
        if self.args.no_caps:
            return math.inf
        return self.args.budget - self.elapsed() - KILL_GRACE

    def mocobench(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "mocobench", *args]

    def data_args(self) -> list[str]:
        return ["--data", str(self.data)] if self.data else []

    def run(
        self, argv: list[str], cap: Cap, log: Path, stage: Stage | None = None, budgeted: bool = True
    ) -> Outcome:
        """Run `argv` for at most min(cap, budget left); skip it when that is below the cap's minimum.

        The set-up (wheels, probe, data) is not `budgeted`: without it no stage can run, so it gets its
        cap whatever the budget (its time still counts against the stages').
        """
        timeout = min(cap.cap, self.left()) if budgeted else cap.cap
        if timeout < cap.minimum:
            return Outcome("skipped", timeout=max(0.0, timeout), minimum=cap.minimum)
        command = shlex.join(argv)
        if stage is not None:
            stage.commands.append(command)
            stage.log = str(log)
        t = time.monotonic()
        with log.open("ab") as fh:
            fh.write(f"$ {command}\n".encode())
            fh.flush()
            self.proc = subprocess.Popen(
                argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
                env=self.env, **OWN_GROUP,
            )  # fmt: skip
            try:
                rc = self.proc.wait(timeout=None if math.isinf(timeout) else timeout)
            except subprocess.TimeoutExpired:
                self.stop_child()
                return Outcome("timed out", time.monotonic() - t, None, timeout)
            finally:
                if self.proc is not None and self.proc.poll() is None:
                    self.stop_child()
                self.proc = None
        return Outcome("ok" if rc == 0 else "failed", time.monotonic() - t, rc, timeout)

    def stop_child(self) -> None:
        """SIGTERM the running stage's process group, SIGKILL it if it is still there after a grace."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def command_stage(
        self,
        stage: Stage,
        argv: list[str],
        cap: Cap,
        figures: Callable[[], dict[str, Any]],
        log_name: str | None = None,
    ) -> Outcome:
        """Run one command as (part of) `stage` and settle its status from how it ended and its files."""
        outcome = self.run(argv, cap, self.logs / f"{log_name or stage.name}.log", stage)
        stage.seconds += outcome.seconds
        settle(stage, outcome, figures)
        return outcome

    # -- report

    def report(self) -> dict[str, Any]:
        return {
            "script": "scripts/gpu_check.py",
            "device_option": self.device,
            "device": self.probe.get("device", "unknown"),
            "torch": self.probe.get("torch"),
            "cuda": self.probe.get("cuda"),
            "python": self.probe.get("python"),
            "commit": self.git["commit"],
            "dirty": self.git["dirty"],
            "date": self.started,
            "budget_s": self.args.budget,
            "capped": not self.args.no_caps,
            "elapsed_s": round(self.elapsed(), 1),
            "work": str(self.work),
            "data": str(self.data) if self.data else "embedded",
            "setup": self.setup,
            "imports": self.probe.get("imports", {}),
            "stages": [asdict(s) for s in self.stages.values()],
            "failed": [f"set-up {k}" for k, s in self.setup.items() if s.get("status") in BAD]
            + [s.name for s in self.stages.values() if s.status in BAD],
        }

    def write_report(self) -> None:
        record = self.report()
        write_text(self.report_dir / "gpu_check.json", json.dumps(record, indent=2) + "\n")
        write_text(self.report_dir / "gpu_check.md", markdown(record))


def settle(stage: Stage, outcome: Outcome, figures: Callable[[], dict[str, Any]]) -> None:
    """Status, reason, figures and log tail of a stage from one command's outcome (worst case wins)."""
    if outcome.kind == "skipped":
        if stage.status == PENDING or stage.status == RUNNING:
            stage.status = SKIPPED
            stage.reason = f"budget: {outcome.timeout:.0f} s left, it needs at least {outcome.minimum:.0f} s"
        return
    try:
        stage.figures.update(figures())
        read_error = ""
    except (OSError, ValueError, KeyError, IndexError, TypeError, StopIteration, UsageError) as e:
        read_error = f"{type(e).__name__}: {e}"
    if outcome.kind == "ok" and not read_error:
        if stage.status in (PENDING, RUNNING, SKIPPED):
            stage.status, stage.reason = PASSED, ""
        return
    if outcome.kind == "ok":
        status, reason = FAILED, f"exit 0, but its output could not be read ({read_error})"
    elif outcome.kind == "failed":
        last = log_tail(Path(stage.log), 1)
        status, reason = FAILED, f"exit code {outcome.returncode}" + (f": {last[:200]}" if last else "")
    else:
        status, reason = TIMED_OUT, f"cut at its {outcome.timeout:.0f} s cap"
    if stage.status not in BAD:
        stage.status, stage.reason = status, reason
    stage.log_tail = log_tail(Path(stage.log))


# ----------------------------------------------------------------------------------- figures per stage


def pretrain_figures(run: Path) -> dict[str, Any]:
    """Loss and kNN per the run's metrics.jsonl, and what ran (config.json's pipeline)."""
    records = read_metrics(run / "metrics.jsonl")
    init = next(r for r in records if r["epoch"] == 0)
    epochs = [r for r in records if r["epoch"] >= 1]
    config = read_json(run / "config.json")
    keys = ("name", "loader", "augment_on", "precision", "channels_last", "fused_sgd", "compile")
    figures: dict[str, Any] = {
        "epochs_planned": config["epochs"],
        "epochs_done": len(epochs),
        "knn_random_init": init.get("knn_top1"),
        "knn_per_epoch": {str(r["epoch"]): r["knn_top1"] for r in epochs if "knn_top1" in r},
        "pipeline": {k: config["pipeline"].get(k) for k in keys},
        "step_options": config.get("step_options"),
        "finished": (run / "summary.json").is_file() and read_json(run / "summary.json").get("finished"),
    }
    if epochs:
        figures.update(
            loss_first=epochs[0]["loss"],
            loss_last=epochs[-1]["loss"],
            knn_top1=next((r["knn_top1"] for r in reversed(epochs) if "knn_top1" in r), None),
            images_per_s=epochs[-1].get("images_per_s"),
        )
    return figures


def step_figures(path: Path) -> dict[str, Any]:
    """`bench step --json`: pairs/s, peak memory, the loss check."""
    record = read_json(path)
    figures: dict[str, Any] = {
        "step_options": record["step_options"],
        "arch": record["arch"],
        "image_size": record["image_size"],
        "batch": record["batch"],
        "memory_kind": record["synthetic"]["memory_kind"],
        "synthetic_pairs_per_s": record["synthetic"]["pairs_per_s"],
        "synthetic_peak_gib": record["synthetic"]["peak_bytes"] / GIB,
    }
    if "loss_check" in record:
        figures["loss_check"] = record["loss_check"]
    if "loader" in record:
        figures.update(
            loader=record["pipeline"]["loader"],
            loader_augment_on=record["pipeline"].get("augment_on"),
            loader_pairs_per_s=record["loader"]["pairs_per_s"],
            loader_peak_gib=record["loader"]["peak_bytes"] / GIB,
            loader_over_synthetic=record["loader_over_synthetic"],
        )
    return figures


def loader_figures(path: Path) -> dict[str, Any]:
    """`bench loader --json`: pairs/s per loader and the ratio to the official (pil) one."""
    record = read_json(path)
    loaders = {}
    for kind, r in record["loaders"].items():
        keep = ("pairs_per_s", "ratio_to_reference", "augment_on", "skipped")
        loaders[kind] = {k: r[k] for k in keep if k in r}
    return {
        "images": record["images"],
        "workers": record["workers"],
        "batch": record["batch"],
        "image_size": record["image_size"],
        "loaders": loaders,
    }


def profile_figures(record_path: Path, tables: Path) -> dict[str, Any]:
    """The profile record: Table 3's rows, and MoCo / end-to-end at batch 256 from them."""
    record = read_json(record_path)
    rows = [
        {
            "mechanism": r["mechanism"],
            "global_batch": r["global_batch"],
            "per_gpu_batch": r["per_gpu_batch"],
            "peak_gib": r["peak_bytes"] / GIB,
            "seconds_per_iteration": r["seconds_per_iteration"],
            "hours_200ep": r["hours_200ep"],
            "estimated": r["estimated"],
        }
        for r in record["rows"]
    ]
    by = {(r["mechanism"], r["global_batch"]): r for r in rows}
    figures: dict[str, Any] = {
        "arch": record["arch"],
        "image_size": record["image_size"],
        "step_options": record["step_options"],
        "memory_kind": record["memory_kind"],
        "rows": rows,
        "record": str(record_path),
        "tables": sorted(str(p) for p in tables.iterdir() if p != record_path),
    }
    moco, e2e = by.get(("moco", 256)), by.get(("end-to-end", 256))
    if moco and e2e:
        figures["moco_over_end_to_end_256"] = {
            "memory": moco["peak_gib"] / e2e["peak_gib"],
            "time": moco["seconds_per_iteration"] / e2e["seconds_per_iteration"],
        }
    return figures


def linear_figures(run: Path) -> dict[str, Any]:
    record = read_json(run / "linear.json")
    trial = record["trials"][0]
    return {
        "top1": record["top1"],
        "top5": record["top5"],
        "n": record["n"],
        "epochs": record["protocol"]["epochs"],
        "seconds": trial.get("seconds"),
        "sanity_check": trial.get("sanity_check"),
    }


def voc_figures(run: Path) -> dict[str, Any]:
    record = read_json(run / "voc.json")
    trial = record["trials"][0]
    return {
        "AP": record["AP"],
        "AP50": record["AP50"],
        "AP75": record["AP75"],
        "n": record["n"],
        "images": record.get("images"),
        "iterations": trial.get("iterations"),
        "seconds_per_iter": trial.get("seconds_per_iter"),
    }


# ------------------------------------------------------------------------------------------- stages


def pretrain_stage(c: Check, stage: Stage, run: Path, extra: tuple[str, ...]) -> None:
    argv = c.mocobench(
        "pretrain", "--recipe", RECIPE, "--scale", "smoke", "--device", c.device, "--out", str(run),
        *c.data_args(), *c.sizes.pretrain, *extra,
    )  # fmt: skip
    c.command_stage(stage, argv, c.sizes.caps[stage.name], lambda: pretrain_figures(run))


def stage_pretrain_fast(c: Check, stage: Stage) -> None:
    pretrain_stage(c, stage, c.work / "run1", ())


def stage_pretrain_official(c: Check, stage: Stage) -> None:
    pretrain_stage(c, stage, c.work / "run2", ("--pipeline", "official"))
    fast = c.stages["pretrain-fast"].figures
    if "loss_last" in fast:  # both pipelines' losses side by side (same recipe, seed and sizes)
        stage.figures["fast_loss_first"] = fast["loss_first"]
        stage.figures["fast_loss_last"] = fast["loss_last"]


def stage_bench_step(c: Check, stage: Stage) -> None:
    runs: dict[str, Any] = {}
    stage.figures["runs"] = runs
    for i, options in enumerate(c.sizes.step_options):
        sub = Stage(options)
        out = c.work / f"bench_step_{i}.json"
        argv = c.mocobench(
            "bench", "step", "--recipe", RECIPE, *c.sizes.step, "--options", options, "--device", c.device,
            "--json", str(out), *(c.data_args() if c.sizes.step_data else []),
        )  # fmt: skip
        outcome = c.run(argv, c.sizes.caps[options], c.logs / f"bench-step-{i}.log", sub)
        sub.seconds = outcome.seconds
        settle(sub, outcome, lambda out=out: step_figures(out))
        stage.commands += sub.commands
        stage.seconds += sub.seconds
        runs[options] = {"status": sub.status, "seconds": round(sub.seconds, 1), **sub.figures}
        if sub.reason:
            runs[options]["reason"] = sub.reason
        if sub.status in BAD:
            stage.log, stage.log_tail = sub.log, sub.log_tail
    for options, reason in c.sizes.step_skipped.items():
        runs[options] = {"status": SKIPPED, "reason": reason}
    statuses = [r["status"] for r in runs.values()]
    bad = [(o, r) for o, r in runs.items() if r["status"] in BAD]
    if bad:
        stage.status = FAILED if any(r["status"] == FAILED for _, r in bad) else TIMED_OUT
        stage.reason = "; ".join(f"{o}: {r['status']} ({r.get('reason', '')})" for o, r in bad)
    elif PASSED in statuses:
        stage.status = PASSED
    else:
        stage.status, stage.reason = SKIPPED, "budget: no sub-run could start"


def stage_bench_loader(c: Check, stage: Stage) -> None:
    loaders = list(c.sizes.loaders)
    notes: dict[str, str] = {}
    if "ffcv" in loaders and c.probe.get("imports", {}).get("ffcv") != "ok":
        loaders.remove("ffcv")
        notes["ffcv"] = FFCV_SKIP
    if "ffcv" not in c.sizes.loaders:
        notes["ffcv"] = "skipped: cpu smoke (writing a .beton is no smoke)"
    out = c.work / "bench_loader.json"
    data = ["--data", str(c.data)] if c.data else []
    argv = c.mocobench(
        "bench", "loader", "--device", c.device, "--loaders", ",".join(loaders), *c.sizes.loader, *data,
        "--json", str(out),
    )  # fmt: skip
    c.command_stage(stage, argv, c.sizes.caps[stage.name], lambda: loader_figures(out))
    stage.figures.setdefault("loaders", {}).update({k: {"skipped": v} for k, v in notes.items()})


def stage_profile(c: Check, stage: Stage) -> None:
    tables = c.report_dir / "table3"
    record = tables / "table3.json"
    argv = c.mocobench(
        "profile", "--device", c.device, "--options", "fp32", *c.sizes.profile, "--out", str(record),
        "--tables", str(tables),
    )  # fmt: skip
    c.command_stage(stage, argv, c.sizes.caps[stage.name], lambda: profile_figures(record, tables))


def needs_run1(c: Check, stage: Stage) -> Path | None:
    """Stage 1's run folder if it finished; else the stage is skipped with the reason."""
    run1 = c.work / "run1"
    summary = run1 / "summary.json"
    if summary.is_file() and read_json(summary).get("finished"):
        return run1
    stage.status = SKIPPED
    stage.reason = f"needs pretrain-fast's finished run (pretrain-fast: {c.stages['pretrain-fast'].status})"
    return None


def stage_linear(c: Check, stage: Stage) -> None:
    run1 = needs_run1(c, stage)
    if run1 is None:
        return
    argv = c.mocobench("linear", "--pretrained", str(run1), "--scale", "smoke", "--device", c.device)
    c.command_stage(stage, argv, c.sizes.caps[stage.name], lambda: linear_figures(run1))


def stage_detect_voc(c: Check, stage: Stage) -> None:
    missing = c.probe.get("imports", {}).get("detectron2.engine", "not probed")
    if missing != "ok":
        stage.status, stage.reason = SKIPPED, f"Detectron2 is not importable here ({missing})"
        return
    run1 = needs_run1(c, stage)
    if run1 is None:
        return
    # smoke touches 16 training and 16 test images: generate just those (the embedded set's 1,200
    # images take ~20 s of CPU that tell nothing about the GPU)
    voc = c.work / "voc"
    argv = c.mocobench("data", "synth", "--voc", "--out", str(voc), "--trainval", "16", "--test", "16")
    made = c.command_stage(stage, argv, c.sizes.caps["voc-data"], lambda: {}, "detect-voc-data")
    if made.kind != "ok":
        return
    stage.status = RUNNING
    argv = c.mocobench(
        "detect-voc", "--pretrained", str(run1), "--scale", "smoke", "--device", c.device, "--data", str(voc)
    )
    c.command_stage(stage, argv, c.sizes.caps[stage.name], lambda: voc_figures(run1))


TIER_RECIPES = ("moco-v1", "mlp+aug+cos")  # Table 1's MoCo v1 and (d): the pair issue 14 asks to time


def tier_figures(run: Path) -> dict[str, Any]:
    """`pretrain_figures`, with the seconds an epoch and the row's full time at the tier from them (an
    estimate: epochs x the median training epoch, the kNN monitor's every 10 epochs not counted)."""
    figures = pretrain_figures(run)
    seconds = sorted(r["epoch_seconds"] for r in read_metrics(run / "metrics.jsonl") if r["epoch"] >= 1)
    if seconds:
        median = seconds[len(seconds) // 2]
        figures.update(epoch_seconds=median, row_estimate_s=median * figures["epochs_planned"])
    return figures


def stage_tier(c: Check, stage: Stage) -> None:
    """The tier's two rows one after the other, each given an equal share of the budget left; a run cut
    at its share is the planned end (its finished epochs are the evidence), a failed one fails the stage."""
    cap, ended = c.sizes.caps["tier"], []
    for i, recipe in enumerate(TIER_RECIPES):
        run = c.work / f"tier-{recipe}"
        share = Cap(min(cap.cap, c.left() / (len(TIER_RECIPES) - i)), cap.minimum)
        argv = c.mocobench(
            "pretrain", "--recipe", recipe, "--scale", "gpu", "--device", c.device, "--out", str(run),
            "--set", "knn_every=1", *c.data_args(), *c.sizes.tier,
        )  # fmt: skip
        outcome = c.run(argv, share, c.logs / f"tier-{recipe}.log", stage)
        stage.seconds += outcome.seconds
        ended.append(outcome.kind)
        if outcome.kind == "skipped":
            continue
        try:
            stage.figures[recipe] = tier_figures(run)
        except (OSError, ValueError, KeyError, StopIteration) as e:
            stage.figures[recipe] = {"error": f"{type(e).__name__}: {e}"}
        if outcome.kind == "failed":
            stage.status = FAILED
            stage.reason = f"{recipe}: exit code {outcome.returncode}: {log_tail(Path(stage.log), 1)[:200]}"
            stage.log_tail = log_tail(Path(stage.log))
    if stage.status == FAILED:
        return
    if all(kind == "skipped" for kind in ended):
        stage.status, stage.reason = SKIPPED, f"budget: under {cap.minimum:.0f} s left for each row"
    elif "timed out" in ended or "skipped" in ended:
        done = ", ".join(f"{r} {f.get('epochs_done', 0)}/{f.get('epochs_planned', '?')} epochs"
                         for r, f in stage.figures.items())  # fmt: skip
        stage.status, stage.reason = STOPPED, f"budget reached: {done}; the runs were interrupted"
    else:
        stage.status, stage.reason = PASSED, ""


STAGE_FUNCTIONS: dict[str, Callable[[Check, Stage], None]] = {
    "pretrain-fast": stage_pretrain_fast,
    "pretrain-official": stage_pretrain_official,
    "bench-step": stage_bench_step,
    "bench-loader": stage_bench_loader,
    "profile": stage_profile,
    "linear": stage_linear,
    "detect-voc": stage_detect_voc,
    "tier": stage_tier,
}


# --------------------------------------------------------------------------------------------- set-up


def wheel_project(path: Path) -> str:
    return re.sub(r"[-_.]+", "_", path.name.split("-")[0]).lower()


def install_wheels(c: Check, wheels: Path) -> None:
    """pip-install DIR's wheels into /tmp/site (no index, no deps) and put it first on PYTHONPATH."""
    files = sorted(wheels.glob("*.whl"))
    entry: dict[str, Any] = {"dir": str(wheels), "wheels": [f.name for f in files], "target": str(SITE)}
    c.setup["wheels"] = entry
    if not files:
        entry["status"] = SKIPPED
        return
    detectron2 = [f for f in files if wheel_project(f) == "sal_detectron2"]
    rest = [f for f in files if f not in detectron2]
    base = [
        sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
        "--no-cache-dir", "--upgrade", "--target", str(SITE),
    ]  # fmt: skip
    t = time.monotonic()
    entry["status"] = PASSED
    for group, extra in ((rest, []), (detectron2, ["--python-version", "3.10", "--only-binary=:all:"])):
        if not group:
            continue
        argv = [*base, *extra, *map(str, group)]
        outcome = c.run(argv, c.sizes.caps["setup"], c.logs / "wheels.log", budgeted=False)
        if outcome.kind != "ok":
            entry["status"] = FAILED if outcome.kind != "timed out" else TIMED_OUT
            entry["log_tail"] = log_tail(c.logs / "wheels.log")
            break
    entry["seconds"] = round(time.monotonic() - t, 1)
    c.pythonpath.insert(0, str(SITE))
    c.env["PYTHONPATH"] = os.pathsep.join(c.pythonpath)


def run_probe(c: Check) -> None:
    """Device name, versions and which optional packages import, in the stages' own environment."""
    log = c.logs / "probe.log"
    modules = ["mocobench", "kornia", "submitit", "platformdirs"]  # what every stage imports
    if "bench-loader" in c.args.stages and "ffcv" in c.sizes.loaders:
        modules.append("ffcv")
    if "detect-voc" in c.args.stages:
        modules.append("detectron2.engine")
    argv = [sys.executable, "-c", PROBE, c.device, *modules]
    outcome = c.run(argv, c.sizes.caps["setup"], log, budgeted=False)
    lines = [r for r in log.read_text(errors="replace").splitlines() if r.startswith("PROBE ")]
    if outcome.kind == "ok" and lines:
        c.probe = json.loads(lines[-1][len("PROBE ") :])
    c.setup["probe"] = {"status": PASSED if c.probe and "error" not in c.probe else FAILED}
    if c.setup["probe"]["status"] == FAILED:
        c.setup["probe"]["log_tail"] = log_tail(log)
        c.setup["probe"]["error"] = c.probe.get("error", f"probe {outcome.kind}")


def make_tiny_data(c: Check) -> None:
    """The CPU smoke's data: 10 classes x (8 + 2) images of 32 px, in a second (the embedded set: ~20 s)."""
    out = c.work / "data"
    argv = c.mocobench(
        "data", "synth", "--out", str(out), "--train-per-class", "8", "--val-per-class", "2",
        "--image-size", "32",
    )  # fmt: skip
    outcome = c.run(argv, c.sizes.caps["setup"], c.logs / "data.log", budgeted=False)
    c.setup["data"] = {"status": PASSED if outcome.kind == "ok" else FAILED, "dir": str(out)}
    if outcome.kind != "ok":
        c.setup["data"]["log_tail"] = log_tail(c.logs / "data.log")
    c.data = out


# --------------------------------------------------------------------------------------------- report


def _pct(x: Any) -> str:
    return "-" if x is None else f"{x:.1f}%"


def _num(x: Any, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def key_figures(name: str, f: dict[str, Any]) -> str:
    """One line of a stage's figures for the summary table."""
    if not f:
        return ""
    if name == "tier":
        lines = []
        for recipe, r in f.items():
            per_epoch = ", ".join(f"{e}: {_pct(k)}" for e, k in r.get("knn_per_epoch", {}).items()) or "none"
            lines.append(
                f"{recipe}: kNN per finished epoch {per_epoch} against random init "
                f"{_pct(r.get('knn_random_init'))}; {r.get('epochs_done')}/{r.get('epochs_planned')} epochs, "
                f"{_num(r.get('epoch_seconds'))} s an epoch, {_num(r.get('images_per_s'))} img/s; the full "
                f"row ~{_num((r.get('row_estimate_s') or 0) / 60)} min (estimate)"
            )
        return "; ".join(lines)
    if name in ("pretrain-fast", "pretrain-official"):
        p = f.get("pipeline", {})
        text = (
            f"loss {_num(f.get('loss_first'), 3)}→{_num(f.get('loss_last'), 3)}, "
            f"kNN {_pct(f.get('knn_top1'))} (random init {_pct(f.get('knn_random_init'))}), "
            f"{f.get('epochs_done')}/{f.get('epochs_planned')} epochs; {p.get('name')}: "
            f"{p.get('loader')} loader, colour on {p.get('augment_on')}, {f.get('step_options')}"
        )
        if "fast_loss_last" in f:
            text += (
                f"; last loss official {_num(f.get('loss_last'), 3)} vs fast {_num(f['fast_loss_last'], 3)}"
            )
        return text
    if name == "bench-step":
        parts = []
        for options, r in f.get("runs", {}).items():
            if r["status"] != PASSED:
                parts.append(f"{options}: {r['status']}")
                continue
            rel = r.get("loss_check", {}).get("rel_diff")
            parts.append(
                f"{options}: {_num(r['synthetic_pairs_per_s'])} synthetic / "
                f"{_num(r.get('loader_pairs_per_s'))} loader pairs/s, "
                f"{_num(r['synthetic_peak_gib'], 2)} GiB, "
                f"loss vs fp32 {'-' if rel is None else f'{rel:.1e}'}"
            )
        return "; ".join(parts)
    if name == "bench-loader":
        parts = []
        for kind, r in f.get("loaders", {}).items():
            if "pairs_per_s" in r:
                parts.append(
                    f"{kind} {_num(r['pairs_per_s'])} pairs/s (x{_num(r.get('ratio_to_reference'), 2)})"
                )
            else:
                parts.append(f"{kind} {r.get('skipped', 'skipped')}")
        return "; ".join(parts)
    if name == "profile":
        parts = [
            f"{r['mechanism']} {r['global_batch']}: {_num(r['peak_gib'], 1)} GiB, "
            f"{_num(r['seconds_per_iteration'], 3)} s/it{' (est.)' if r['estimated'] else ''}"
            for r in f.get("rows", [])
        ]
        ratio = f.get("moco_over_end_to_end_256")
        if ratio:
            parts.append(f"MoCo/e2e at 256: memory {ratio['memory']:.2f}, time {ratio['time']:.2f}")
        return "; ".join(parts)
    if name == "linear":
        return f"top-1 {_pct(f.get('top1'))}, top-5 {_pct(f.get('top5'))} ({f.get('epochs')} epochs)"
    if name == "detect-voc":
        return f"AP50 {_num(f.get('AP50'))}, AP {_num(f.get('AP'))}, AP75 {_num(f.get('AP75'))}"
    return ""


def markdown(r: dict[str, Any]) -> str:
    """The report for a person: environment, one row per stage, then each stage's details."""
    commit = r["commit"] or "unknown (no git checkout here)"
    if r["dirty"]:
        commit += " (with uncommitted changes)"
    bad = r["failed"]
    unfinished = [s["name"] for s in r["stages"] if s["status"] in (PENDING, RUNNING)]
    verdict = (
        f"**{len(bad)} stage(s) failed or timed out: {', '.join(bad)}**"
        if bad
        else "no stage failed" + (f" so far ({', '.join(unfinished)} not finished)" if unfinished else "")
    )
    budget = f"budget {r['budget_s']:.0f} s" if r.get("capped", True) else "no time caps (--no-caps)"
    lines = [
        f"# GPU check on {r['device']}",
        "",
        f"- device: {r['device']} (`--device {r['device_option']}`); torch {r['torch']} (CUDA build "
        f"{r['cuda']}), Python {r['python']}",
        f"- commit: {commit}",
        f"- date: {r['date']}; {budget}, {r['elapsed_s']:.0f} s used",
        f"- data: {r['data']}; result: {verdict}",
    ]
    for step, s in r["setup"].items():
        extra = f", {len(s.get('wheels', []))} wheels into {s['target']}" if step == "wheels" else ""
        lines.append(f"- set-up {step}: {s.get('status')}{extra}")
    if r["imports"]:
        imports = ", ".join(f"{k} {'ok' if v == 'ok' else 'missing'}" for k, v in r["imports"].items())
        lines.append(f"- imports in the stages' environment: {imports}")
    lines += ["", "| # | stage | status | seconds | key figures |", "|---|---|---|---|---|"]
    for i, s in enumerate(r["stages"], 1):
        status = s["status"] + (f": {s['reason']}" if s["reason"] else "")
        lines.append(
            f"| {i} | {s['name']} | {status} | {s['seconds']:.1f} | {key_figures(s['name'], s['figures'])} |"
        )
    for i, s in enumerate(r["stages"], 1):
        lines += ["", f"## {i}. {s['name']}: {s['status']}", ""]
        if s["reason"]:
            lines.append(f"Reason: {s['reason']}")
            lines.append("")
        if s["status"] == RUNNING:
            lines += ["The run was cut while this stage ran.", ""]
        for cmd in s["commands"]:
            lines.append(f"    $ {cmd}")
        if s["figures"]:
            lines += ["", "```json", json.dumps(s["figures"], indent=1), "```"]
        if s["log_tail"]:
            lines += ["", f"Log tail ({s['log']}):", "", "```", s["log_tail"], "```"]
    for step, s in r["setup"].items():
        if s.get("log_tail"):
            lines += ["", f"## set-up {step}: {s.get('status')}", "", "```", s["log_tail"], "```"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ fetching


def requirements(wheel: Path) -> list[str]:
    """Normalised names of a wheel's Requires-Dist for Python 3.12 (extras and old-Python backports out)."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode("utf-8", "replace").splitlines()
    names = []
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        spec, _, marker = line.split(":", 1)[1].partition(";")
        if "extra" in marker or re.search(r"python_version\s*(<|==)\s*['\"]3\.[0-9]['\"]", marker):
            continue
        names.append(re.sub(r"[-_.]+", "_", re.split(r"[\s<>=!~\[(]", spec.strip())[0]).lower())
    return names


def fetch_wheels(dest: Path) -> int:
    """Download (here, with network) the wheels the GPU machine lacks, at this environment's versions."""
    names = [*GPU_MISSING, DETECTRON2_DIST]
    pins = {}
    for name in names:
        try:
            pins[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            print(f"{name} is not installed in {sys.executable}: run this with the repo's .venv/bin/python")
            return 2
    dest.mkdir(parents=True, exist_ok=True)
    for name, version in pins.items():
        project = re.sub(r"[-_.]+", "_", name).lower()
        for old in dest.glob("*.whl"):  # two versions of one package stop the whole install
            if wheel_project(old) == project and old.name.split("-")[1] != version:
                old.unlink()
        python = "3.10" if name == DETECTRON2_DIST else "3.12"
        platforms = [a for p in PLATFORMS for a in ("--platform", p)]
        download = [
            sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
            "--python-version", python, "--implementation", "cp", *platforms, "-d", str(dest),
            f"{name}=={version}",
        ]  # fmt: skip
        if subprocess.run(download, capture_output=True, text=True).returncode == 0:
            continue
        # no wheel on the index (fvcore, iopath, antlr4 are sdists): build one here, pure Python only
        build = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(dest),
            f"{name}=={version}",
        ]
        done = subprocess.run(build, capture_output=True, text=True)
        built = [w for w in dest.glob("*.whl") if wheel_project(w) == project]
        if done.returncode or not built or not all(w.name.endswith("-py3-none-any.whl") for w in built):
            print(f"{name}=={version}: no wheel for Python {python}, and none pure Python could be built")
            print(done.stderr[-2000:])
            return 1
    wheels = sorted(dest.glob("*.whl"))
    total = sum(w.stat().st_size for w in wheels) / 2**20
    for w in wheels:
        print(f"{w.stat().st_size / 2**20:6.2f} MiB  {w.name}")
    print(f"{total:6.2f} MiB in all, {len(wheels)} wheels in {dest}")
    carried = {wheel_project(w) for w in wheels}
    needed = sorted({r for w in wheels for r in requirements(w)} - carried)
    print(f"their requirements not carried (the GPU image must have them): {', '.join(needed)}")
    if total > WHEELS_MAX_MIB:
        print(f"over {WHEELS_MAX_MIB} MiB: the device tool carries 64 MiB of working tree in all")
        return 1
    try:
        carry = dest.resolve().relative_to(REPO)
    except ValueError:
        print(f"{dest} is outside the repository: the device tool carries only paths inside it")
        return 0
    option = "" if carry == Path(".whl") else f" --wheels {carry}"
    print(
        'device call: run(command="python3 scripts/gpu_check.py --device cuda --report $OUT/gpu-check '
        f'--budget 560{option}", carry=["{carry}"], timeout_s=600)'
    )
    return 0


# ----------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=f"stages, in priority order: {', '.join(STAGES)}"
    )
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: every stage as a smoke")
    p.add_argument(
        "--report", type=Path, default=REPO / "tables" / "gpu-check", help="gpu_check.json/.md go here"
    )
    p.add_argument("--budget", type=float, default=780.0, help="seconds for the whole run (default 780)")
    p.add_argument(
        "--data", type=Path, help="ImageNet-layout folder; default the embedded set (cpu: a tiny one)"
    )
    p.add_argument(
        "--wheels", help="wheels to pip-install into /tmp/site first (default .whl if it exists; none)"
    )
    p.add_argument(
        "--work", type=Path, help="run folders and logs, new or empty (default a temporary folder)"
    )
    p.add_argument("--stages", default=",".join(STAGES), help="comma list to run (default all)")
    p.add_argument(
        "--no-caps",
        action="store_true",
        help="every stage runs to its end, whatever the budget and caps (the test suite's CPU smoke: it "
        "checks the stages' work, never how fast a machine does it)",
    )
    p.add_argument(
        "--fetch-wheels", type=Path, metavar="DIR", help="download the GPU machine's wheels, then exit"
    )
    args = p.parse_args(argv)
    selected = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in selected if s not in STAGES]
    if unknown:
        p.error(f"unknown stage {unknown[0]!r}; stages: {', '.join(STAGES)}")
    args.stages = [s for s in STAGES if s in selected]  # always in priority order
    if args.fetch_wheels:
        return args
    if args.work is None:
        args.work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    elif args.work.exists() and any(args.work.iterdir()):
        p.error(f"--work {args.work} is not empty (run folders are never overwritten)")
    args.report = args.report.resolve()
    args.work = args.work.resolve()
    if args.data is not None:
        args.data = args.data.resolve()
    return args


def wheels_dir(option: str | None) -> Path | None:
    if option is None:
        default = REPO / ".whl"
        return default if default.is_dir() else None
    if option.lower() in ("", "none"):
        return None
    return Path(option).resolve()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fetch_wheels:
        return fetch_wheels(args.fetch_wheels)
    c = Check(args)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _raise_interrupted)
    current: Stage | None = None

    def say(text: str) -> None:
        print(f"[gpu-check {c.elapsed():5.0f} s] {text}", flush=True)

    for name in STAGES:
        if name not in args.stages:
            c.stages[name].status, c.stages[name].reason = SKIPPED, "not selected (--stages)"
    try:
        c.write_report()
        wheels = wheels_dir(args.wheels)
        if wheels is not None:
            install_wheels(c, wheels)
            say(f"wheels: {c.setup['wheels']['status']}")
        run_probe(c)
        say(f"device: {c.probe.get('device', 'unknown')}, torch {c.probe.get('torch')}")
        if args.device == "cpu" and args.data is None:
            make_tiny_data(c)
        c.write_report()
        for name in args.stages:
            current = c.stages[name]
            current.status = RUNNING
            c.write_report()
            STAGE_FUNCTIONS[name](c, current)
            if current.status == RUNNING:  # a stage that ran nothing (every command skipped)
                current.status = SKIPPED
            say(
                f"{name}: {current.status} in {current.seconds:.1f} s"
                + (f" ({current.reason})" if current.reason else "")
            )
            c.write_report()
        current = None
    except Interrupted as e:
        c.stop_child()
        if current is not None:
            current.status = TIMED_OUT
            current.reason = f"the script was stopped by signal {e.signum} while this stage ran"
            if current.log:
                current.log_tail = log_tail(Path(current.log))
        for stage in c.stages.values():
            if stage.status == PENDING:
                stage.status, stage.reason = SKIPPED, "not run: the script was stopped"
        c.write_report()
        say(f"stopped by signal {e.signum}; report in {args.report}")
        return 128 + e.signum
    bad = c.report()["failed"]
    say(f"report: {args.report / 'gpu_check.md'} (work folder {c.work})")
    if bad:
        say(f"failed: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

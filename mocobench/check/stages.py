"""The stages themselves, in priority order: each runs its mocobench command(s) and settles its entry.

Every figure comes from the files the command wrote (`figures.py`); a stage that needs an earlier one's
run, or a package the probe found missing, is skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mocobench.check.figures import (
    READ_ERRORS,
    is_finished,
    linear_figures,
    loader_figures,
    pretrain_figures,
    profile_figures,
    step_figures,
    tier_figures,
    voc_figures,
)
from mocobench.check.runner import Check
from mocobench.check.sizes import RECIPE, TIER_RECIPES, Cap
from mocobench.check.stage import (
    BAD,
    FAILED,
    PASSED,
    RUNNING,
    SKIPPED,
    STOPPED,
    TIMED_OUT,
    Stage,
    log_tail,
    settle,
)

FFCV_SKIP = "skipped: FFCV not installable here (no wheel, no compiler headers)"


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
    argv = c.mocobench(
        "bench", "loader", "--device", c.device, "--loaders", ",".join(loaders), *c.sizes.loader,
        *c.data_args(), "--json", str(out),
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
    if is_finished(run1):
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


def stage_tier(c: Check, stage: Stage) -> None:
    """The tier's two rows one after the other, each given an equal share of the budget left; a run cut
    at its share is the planned end (its finished epochs are the evidence), a failed one fails the stage,
    and so does one that ended well but whose run could not be read."""
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
        except READ_ERRORS as e:
            stage.figures[recipe] = {"error": f"{type(e).__name__}: {e}"}
            if outcome.kind == "ok":
                stage.status = FAILED
                stage.reason = f"{recipe}: exit 0, but its output could not be read ({type(e).__name__}: {e})"
        if outcome.kind == "failed":
            stage.status = FAILED
            stage.reason = f"{recipe}: exit code {outcome.returncode}: {log_tail(Path(stage.log), 1)[:200]}"
        if stage.status == FAILED:
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

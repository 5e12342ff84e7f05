"""The check's report: `gpu_check.json` for tools and `gpu_check.md` for a person, both rewritten
atomically after every stage, so a run cut from outside still leaves a valid report up to its last stage."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from mocobench.check.runner import Check
from mocobench.check.stage import BAD, PASSED, PENDING, RUNNING
from mocobench.runtime.atomic import write_text

JSON_NAME, MARKDOWN_NAME = "gpu_check.json", "gpu_check.md"


def record(c: Check) -> dict[str, Any]:
    """The report as a JSON object: environment, set-up, every stage's entry, and what failed."""
    return {
        "script": "mocobench check",
        "device_option": c.device,
        "device": c.probe.get("device", "unknown"),
        "torch": c.probe.get("torch"),
        "cuda": c.probe.get("cuda"),
        "python": c.probe.get("python"),
        "commit": c.git["commit"],
        "dirty": c.git["dirty"],
        "date": c.started,
        "budget_s": c.options.budget,
        "capped": not c.options.no_caps,
        "elapsed_s": round(c.elapsed(), 1),
        "work": str(c.work),
        "data": str(c.data) if c.data else "embedded",
        "setup": c.setup,
        "imports": c.probe.get("imports", {}),
        "stages": [asdict(s) for s in c.stages.values()],
        "failed": [f"set-up {k}" for k, s in c.setup.items() if s.get("status") in BAD]
        + [s.name for s in c.stages.values() if s.status in BAD],
    }


def write_report(c: Check) -> dict[str, Any]:
    """Rewrite both files from the run as it stands; returns the record written."""
    r = record(c)
    write_text(c.report_dir / JSON_NAME, json.dumps(r, indent=2) + "\n")
    write_text(c.report_dir / MARKDOWN_NAME, markdown(r))
    return r


def _pct(x: Any) -> str:
    return "-" if x is None else f"{x:.1f}%"


def _num(x: Any, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _tier(f: dict[str, Any]) -> str:
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


def _pretrain(f: dict[str, Any]) -> str:
    p = f.get("pipeline", {})
    text = (
        f"loss {_num(f.get('loss_first'), 3)}→{_num(f.get('loss_last'), 3)}, "
        f"kNN {_pct(f.get('knn_top1'))} (random init {_pct(f.get('knn_random_init'))}), "
        f"{f.get('epochs_done')}/{f.get('epochs_planned')} epochs; {p.get('name')}: "
        f"{p.get('loader')} loader, colour on {p.get('augment_on')}, {f.get('step_options')}"
    )
    if "fast_loss_last" in f:
        text += f"; last loss official {_num(f.get('loss_last'), 3)} vs fast {_num(f['fast_loss_last'], 3)}"
    return text


def _bench_step(f: dict[str, Any]) -> str:
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


def _bench_loader(f: dict[str, Any]) -> str:
    parts = []
    for kind, r in f.get("loaders", {}).items():
        if "pairs_per_s" in r:
            parts.append(f"{kind} {_num(r['pairs_per_s'])} pairs/s (x{_num(r.get('ratio_to_reference'), 2)})")
        else:
            parts.append(f"{kind} {r.get('skipped', 'skipped')}")
    return "; ".join(parts)


def _profile(f: dict[str, Any]) -> str:
    parts = [
        f"{r['mechanism']} {r['global_batch']}: {_num(r['peak_gib'], 1)} GiB, "
        f"{_num(r['seconds_per_iteration'], 3)} s/it{' (est.)' if r['estimated'] else ''}"
        for r in f.get("rows", [])
    ]
    ratio = f.get("moco_over_end_to_end_256")
    if ratio:
        parts.append(f"MoCo/e2e at 256: memory {ratio['memory']:.2f}, time {ratio['time']:.2f}")
    return "; ".join(parts)


def key_figures(name: str, f: dict[str, Any]) -> str:
    """One line of a stage's figures for the summary table."""
    if not f:
        return ""
    if name == "tier":
        return _tier(f)
    if name in ("pretrain-fast", "pretrain-official"):
        return _pretrain(f)
    if name == "bench-step":
        return _bench_step(f)
    if name == "bench-loader":
        return _bench_loader(f)
    if name == "profile":
        return _profile(f)
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

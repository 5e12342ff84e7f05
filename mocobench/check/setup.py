"""The set-up before the stages: the offline node's wheels, a probe of the device and imports, tiny data.

None of it is budgeted (no stage can run without it), but its time counts against the stages'.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from mocobench.check.runner import Check
from mocobench.check.stage import FAILED, PASSED, SKIPPED, TIMED_OUT, log_tail
from mocobench.check.wheels import wheel_project

SITE = Path("/tmp/site")  # where the offline wheels are installed, first on the stages' PYTHONPATH

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
    c.put_first_on_path(SITE)


def run_probe(c: Check) -> None:
    """Device name, versions and which optional packages import, in the stages' own environment."""
    log = c.logs / "probe.log"
    modules = ["mocobench", "kornia", "submitit", "platformdirs"]  # what every stage imports
    if "bench-loader" in c.options.stages and "ffcv" in c.sizes.loaders:
        modules.append("ffcv")
    if "detect-voc" in c.options.stages:
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

"""`mocobench profile`: Table 3's memory per GPU and time per 200 epochs, measured on this device.

The paper ran 8 V100s with a global batch of 256 (32 per GPU) and estimated end-to-end at 4096 (512 per
GPU), which did not fit. One process here plays one of those GPUs: it runs the per-GPU batch of each
configuration (`per_gpu_config`: MoCo, and MoCo's end-to-end with the same shuffle BN) and measures peak
memory and seconds per iteration. Time per 200 ImageNet epochs is then
    200 * 1,281,167 / global_batch iterations * seconds per iteration,
i.e. 8 devices like this one in parallel with free communication: an estimate, and labelled so.
A configuration that would not fit the device is not run: its memory and time come from a straight line
through measured smaller per-GPU batches (`fit_line`), and it is marked estimated (the paper's dagger).
"""

from __future__ import annotations

import math
import multiprocessing
from dataclasses import dataclass
from typing import Any

import torch

from mocobench.bench.memory import current_rss_bytes, device_memory_bytes
from mocobench.bench.step import measure, synthetic_pairs, trainable
from mocobench.config.paper import load_paper_table
from mocobench.config.recipes import recipes_for_table
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.run.config import resolve
from mocobench.runtime.environment import environment
from mocobench.runtime.step_options import StepOptions

IMAGENET_TRAIN_IMAGES = 1_281_167
EPOCHS = 200
PAPER_GPUS = 8
FIT_BATCHES = (8, 16, 32)  # per-GPU batches measured for the memory/time lines
FIT_HEADROOM = 0.85  # run a configuration only if its predicted peak is below this share of the device


def parse_fit_batches(text: str) -> tuple[int, ...]:
    """`--fit-batches 8,16,32` -> (8, 16, 32); anything but a comma list of positive integers is refused."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise UsageError(
            f"--fit-batches takes a comma list of positive integers such as 8,16,32 (got {text!r})"
        )
    return values


def table3_configs() -> list[tuple[str, str, int]]:
    """(mechanism, recipe, global batch) of every configuration to profile, smaller batch first.

    Each mechanism of the paper's Table 3 at each of its batches, with the recipe that names the row
    (`[[paper]] table = 3`). MoCo at 4096 is not in the paper; it is added, with MoCo's recipe, so both
    mechanisms are compared at both batches.
    """
    paper = load_paper_table(3)
    by_row = recipes_for_table(3)
    named = {
        (str(r["mechanism"]), int(r["batch"])): by_row[r["row"]]
        for _, r in paper.iterrows()
        if r["row"] in by_row
    }
    mechanisms = list(dict.fromkeys(str(m) for m in paper["mechanism"]))
    configs = []
    for batch in sorted({int(b) for b in paper["batch"]}):
        for mechanism in mechanisms:
            recipe = named.get((mechanism, batch)) or next(r for (m, _), r in named.items() if m == mechanism)
            configs.append((mechanism, recipe, batch))
    return configs


@dataclass(frozen=True)
class Line:
    """y = intercept + slope * per_gpu_batch, least squares through measured points."""

    intercept: float
    slope: float

    def __call__(self, x: float) -> float:
        return self.intercept + self.slope * x


def fit_line(xs: list[float], ys: list[float]) -> Line:
    if len(xs) < 2 or len(set(xs)) < 2:
        raise ValueError("a line needs measurements at two or more different batch sizes")
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return Line(my - slope * mx, slope)


def hours_for_epochs(seconds_per_iteration: float, global_batch: int, epochs: int = EPOCHS) -> float:
    """Wall-clock hours of `epochs` ImageNet epochs at `global_batch`, drop_last as in training."""
    iterations = epochs * (IMAGENET_TRAIN_IMAGES // global_batch)
    return iterations * seconds_per_iteration / 3600


def profile_config(
    config: RunConfig,
    per_gpu_batch: int,
    device: torch.device,
    options: StepOptions,
    steps: int,
    warmup: int,
) -> dict[str, Any]:
    """Peak memory and seconds per iteration of one process at `per_gpu_batch` (synthetic inputs).

    On the CPU each configuration runs in a fresh process: memory the allocator kept from an earlier
    configuration would otherwise count towards this one's peak RSS. The processes fork from one server
    that has imported this module (and PyTorch) once and built no model, so each starts as a spawned one
    would after its imports, without paying ~5 s of imports again (`bench/memory.py` resets the peak).
    """
    if device.type == "cuda":
        return _profile_in_process(config, per_gpu_batch, device, options, steps, warmup)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    with ctx.Pool(1) as pool:
        return pool.apply(_profile_in_process, (config, per_gpu_batch, device, options, steps, warmup))


def per_gpu_config(config: RunConfig, per_gpu_batch: int) -> RunConfig:
    """The config of one of the paper's GPUs: its share of the batch, its own BN over that share.

    MoCo and its end-to-end mechanism alike (both shuffle BN, MoCo paper sec. 3.3): the key batch shuffled,
    then normalised by each GPU's own BatchNorm, as in the official code (the recipes' 32 images a group
    are one GPU's share at 256; at every per-GPU batch here the GPU is one group). One process has no other
    GPU to shuffle with: the shuffle permutes its own batch, at its own cost.
    """
    return config.replace(batch_size=per_gpu_batch, bn_group=per_gpu_batch)


def _profile_in_process(
    config: RunConfig,
    per_gpu_batch: int,
    device: torch.device,
    options: StepOptions,
    steps: int,
    warmup: int,
) -> dict[str, Any]:
    baseline = current_rss_bytes() if device.type == "cpu" else 0
    cfg = per_gpu_config(config, per_gpu_batch)
    method = trainable(cfg, device, options)
    try:
        fig = measure(
            method,
            synthetic_pairs(per_gpu_batch, cfg.data.image_size, device, options),
            per_gpu_batch,
            steps,
            warmup,
            options,
            device,
        )
    finally:
        del method
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return {
        "per_gpu_batch": per_gpu_batch,
        "peak_bytes": fig.peak_bytes,
        "memory_kind": fig.memory_kind,
        "baseline_rss_bytes": baseline,
        "seconds_per_iteration": fig.seconds_per_step,
        "loss": fig.loss_last,
    }


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()


def profile(
    device: torch.device,
    options: StepOptions,
    arch: str = "resnet50",
    image_size: int = 224,
    steps: int = 3,
    warmup: int = 1,
    fit_batches: tuple[int, ...] = FIT_BATCHES,
    gpus: int = PAPER_GPUS,
    log: Any = print,
) -> dict[str, Any]:
    """Measure every Table 3 configuration that fits; estimate the others. Returns the profile record."""
    if len(set(fit_batches)) < 2:
        raise UsageError("--fit-batches needs two or more different per-GPU batch sizes, e.g. 8,16,32")
    capacity = device_memory_bytes(device)
    rows: list[dict[str, Any]] = []
    fits: dict[str, dict[str, Any]] = {}
    for mechanism, recipe, global_batch in table3_configs():
        config = resolve(recipe, "paper", [f"arch={arch}", f"image_size={image_size}"])
        if mechanism not in fits:  # the lines through small per-GPU batches, once per mechanism
            points = []
            for b in fit_batches:
                log(f"{mechanism}: per-GPU batch {b} (memory/time line)")
                points.append(profile_config(config, b, device, options, steps, warmup))
            xs = [p["per_gpu_batch"] for p in points]
            fits[mechanism] = {
                "points": points,
                "memory": fit_line(xs, [p["peak_bytes"] for p in points]),
                "time": fit_line(xs, [p["seconds_per_iteration"] for p in points]),
            }
        per_gpu = global_batch // gpus
        line_mem, line_time = fits[mechanism]["memory"], fits[mechanism]["time"]
        predicted = line_mem(per_gpu)
        row: dict[str, Any] = {
            "mechanism": mechanism,
            "recipe": recipe,
            "global_batch": global_batch,
            "per_gpu_batch": per_gpu,
            "predicted_peak_bytes": predicted,
        }
        measured = next((p for p in fits[mechanism]["points"] if p["per_gpu_batch"] == per_gpu), None)
        if measured is None and predicted < FIT_HEADROOM * capacity:
            log(f"{mechanism}: per-GPU batch {per_gpu} (global {global_batch})")
            try:
                measured = profile_config(config, per_gpu, device, options, steps, warmup)
            except RuntimeError as e:
                if not _is_oom(e):
                    raise
                row["note"] = "out of memory when run"
        if measured is not None:
            row.update(
                peak_bytes=measured["peak_bytes"],
                seconds_per_iteration=measured["seconds_per_iteration"],
                estimated=False,
            )
        else:
            row.update(peak_bytes=predicted, seconds_per_iteration=line_time(per_gpu), estimated=True)
            row.setdefault(
                "note", f"predicted {predicted / 2**30:.1f} GiB > {FIT_HEADROOM:.0%} of the device"
            )
        row["hours_200ep"] = hours_for_epochs(row["seconds_per_iteration"], global_batch)
        rows.append(row)
    return {
        "device": environment(device, 1, None),
        "memory_kind": fits["moco"]["points"][0]["memory_kind"],
        "device_memory_bytes": capacity,
        "arch": arch,
        "image_size": image_size,
        "step_options": options.describe(),
        "steps": steps,
        "warmup": warmup,
        "gpus": gpus,
        "imagenet_train_images": IMAGENET_TRAIN_IMAGES,
        "epochs": EPOCHS,
        "fit_batches": list(fit_batches),
        "lines": {
            m: {
                "memory_bytes": {"intercept": f["memory"].intercept, "slope": f["memory"].slope},
                "seconds": {"intercept": f["time"].intercept, "slope": f["time"].slope},
                "points": f["points"],
            }
            for m, f in fits.items()
        },
        "rows": rows,
    }


def ratios(record: dict[str, Any], global_batch: int = 256) -> dict[str, float]:
    """MoCo / end-to-end memory and time at one global batch (the paper's 0.68 and 0.82 at 256)."""
    by = {(r["mechanism"], r["global_batch"]): r for r in record["rows"]}
    moco, e2e = by.get(("moco", global_batch)), by.get(("end-to-end", global_batch))
    if not moco or not e2e:
        return {"memory": math.nan, "time": math.nan}
    return {
        "memory": moco["peak_bytes"] / e2e["peak_bytes"],
        "time": moco["seconds_per_iteration"] / e2e["seconds_per_iteration"],
    }

"""`mocobench bench loader`: image pairs/s of the official input pipeline and of ours, on the same images.

The reference is the official MoCo code's: an ImageFolder-style dataset whose TwoCropsTransform runs the
full aug+ PIL pipeline twice per decoded image, in DataLoader workers (`--loader pil`). Ours decode once and
crop twice (`torch`, and `ffcv` when installed), with colour where `pretrain` would put it on that device.
Every pipeline is timed up to normalised (im_q, im_k) on the device, so the comparison is end to end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from mocobench.data.folder import list_split
from mocobench.errors import UsageError
from mocobench.loading.ffcv_beton import ffcv_available
from mocobench.loading.loaders import LOADERS, TwoViewLoader, TwoViewSpec, build_two_view_loader
from mocobench.runtime.distributed import DistInfo
from mocobench.runtime.environment import device_name
from mocobench.runtime.step_options import StepOptions

REFERENCE = "pil"
PAPER_BLUR_SIGMA = (0.1, 2.0)  # aug+'s blur sigma at 224 px (PAPER.md)


def parse_loaders(text: str) -> tuple[str, ...]:
    """`--loaders pil,torch,ffcv` -> the loaders to time; `auto` and unknown names are refused."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in LOADERS or k == "auto"]
    if bad or not kinds:
        raise UsageError(f"unknown loader {bad[0] if bad else text!r} in --loaders; use pil, torch, ffcv")
    return kinds


def time_pairs(loader: TwoViewLoader, batches: int, warmup: int, device: torch.device) -> dict[str, float]:
    """Pairs/s over `batches` batches after `warmup` (worker start-up, FFCV compilation) untimed ones."""
    pairs = loader.pairs_forever()
    for _ in range(warmup):
        next(pairs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    seen = sum(next(pairs)[0].shape[0] for _ in range(batches))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    return {"pairs_per_s": seen / seconds, "seconds": seconds, "pairs": seen}


def bench_loader(
    root: Path,
    device: torch.device,
    workers: int,
    batch: int,
    batches: int,
    warmup: int,
    image_size: int = 224,
    augmentation: str = "aug_plus",
    loaders: tuple[str, ...] = ("pil", "torch", "ffcv"),
    augment_on: str = "auto",
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Measure each loader in `loaders` (ffcv skipped when not installed); ratios are to the reference."""
    if batches < 1 or warmup < 0 or batch < 1 or workers < 0:
        raise UsageError("need --batches >= 1, --warmup >= 0, --batch >= 1 and --workers >= 0")
    samples, classes = list_split(root, "train")
    if len(samples) < batch:
        raise UsageError(
            f"{root}/train has {len(samples)} images, fewer than one batch of {batch}; lower --batch"
        )
    spec = TwoViewSpec(augmentation, image_size, PAPER_BLUR_SIGMA, batch, workers)
    dist = DistInfo.single(device)
    results: dict[str, Any] = {}
    for kind in loaders:
        if kind == "ffcv" and not ffcv_available():
            results[kind] = {"skipped": "FFCV is not installed (pip install 'mocobench[ffcv]')"}
            continue
        log(f"{kind}: building the loader")
        loader = build_two_view_loader(
            spec, root, samples, classes, 0, dist, StepOptions(), kind, augment_on, log=log
        )
        log(f"{kind}: timing {batches} batches of {batch} after {warmup} warm-up")
        results[kind] = {**loader.describe(), **time_pairs(loader, batches, warmup, device)}
        del loader
    ref = results.get(REFERENCE, {}).get("pairs_per_s")
    for r in results.values():
        if ref and "pairs_per_s" in r:
            r["ratio_to_reference"] = r["pairs_per_s"] / ref
    return {
        "device": device_name(device),
        "data": str(root),
        "images": len(samples),
        "workers": workers,
        "batch": batch,
        "batches": batches,
        "image_size": image_size,
        "augmentation": augmentation,
        "torch_threads": torch.get_num_threads(),
        "loaders": results,
    }


def rich_table(record: dict[str, Any]) -> Table:
    """`bench loader`'s figures for the terminal: pairs/s per loader and the ratio to the reference."""
    view = Table(
        title=f"bench loader: {record['device']}, {record['workers']} workers, batch {record['batch']}, "
        f"{record['image_size']} px"
    )
    for col in ("loader", "colour on", "pairs/s", "x reference"):
        view.add_column(col, justify="right")
    for kind, r in record["loaders"].items():
        if "skipped" in r:
            view.add_row(kind, "-", r["skipped"], "-")
            continue
        ratio = r.get("ratio_to_reference")
        view.add_row(kind, r["augment_on"], f"{r['pairs_per_s']:.1f}", f"{ratio:.2f}" if ratio else "-")
    return view

"""`mocobench bench step`: pairs/s and peak memory of the training step, with synthetic and real inputs.

Synthetic inputs are made once on the device, so the figure is the model's alone; the same run repeated
with the real loader (decode, crop, augmentation) shows the loader's cost as a ratio. Before timing, one
forward of the chosen step options is compared with fp32 on the same weights and inputs, so a fast path
that changes the result beyond rounding is caught (`loss_check`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from rich.table import Table

from mocobench.bench.memory import PeakMemory
from mocobench.config.settings import RunConfig
from mocobench.data.folder import list_train_val
from mocobench.data.sources import open_data
from mocobench.errors import UsageError
from mocobench.loading.loaders import TwoViewLoader, build_two_view_loader
from mocobench.methods import Trainable
from mocobench.run.build import build
from mocobench.run.loop import optimise
from mocobench.runtime.distributed import DistInfo
from mocobench.runtime.environment import device_name
from mocobench.runtime.step_options import StepOptions, prepare_model, to_input
from mocobench.train.data import two_view_spec

Pair = tuple[torch.Tensor, torch.Tensor]
LOSS_RTOL = 0.02  # bf16 autocast moves an InfoNCE loss of ~5-10 by well under 1% at init


@dataclass
class StepFigures:
    pairs_per_s: float
    seconds_per_step: float
    peak_bytes: int
    memory_kind: str
    steps: int
    loss_first: float
    loss_last: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def trainable(config: RunConfig, device: torch.device, options: StepOptions, seed: int = 0) -> Trainable:
    """The recipe's method as `pretrain` builds it (`run/build.py`), in one process on `device`."""
    torch.manual_seed(seed)
    return build(config, 10, 1, device, options)


def synthetic_pairs(batch: int, size: int, device: torch.device, options: StepOptions) -> Iterator[Pair]:
    """One fixed random pair batch already on the device, forever (inputs cost nothing)."""
    g = torch.Generator().manual_seed(0)
    im_q = to_input(torch.randn(batch, 3, size, size, generator=g), device, options)
    im_k = to_input(torch.randn(batch, 3, size, size, generator=g), device, options)
    while True:
        yield im_q, im_k


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    method: Trainable,
    pairs: Iterator[Pair],
    batch: int,
    steps: int,
    warmup: int,
    options: StepOptions,
    device: torch.device,
    on_step: Callable[[int], None] | None = None,
) -> StepFigures:
    """Run `warmup` untimed steps (compilation, cuDNN autotuning, loader start), then time `steps`."""
    if steps < 1 or warmup < 0:
        raise UsageError(f"need --steps >= 1 and --warmup >= 0 (got {steps}, {warmup})")
    method.model.train()
    losses: list[float] = []
    with PeakMemory(device) as peak:
        for i in range(warmup + steps):
            if i == warmup:
                _sync(device)
                t0 = time.perf_counter()
            loss, _, _ = method.forward(method.model, next(pairs), options)
            optimise(loss, method.optimizer, method.scaler)
            if i >= warmup and (i == warmup or i == warmup + steps - 1):
                losses.append(loss.item())
            if on_step:
                on_step(i)
        _sync(device)
        seconds = time.perf_counter() - t0
    return StepFigures(
        pairs_per_s=steps * batch / seconds,
        seconds_per_step=seconds / steps,
        peak_bytes=peak.bytes,
        memory_kind=peak.kind,
        steps=steps,
        loss_first=losses[0],
        loss_last=losses[-1],
    )


def loss_check(config: RunConfig, batch: int, device: torch.device, options: StepOptions) -> dict[str, float]:
    """Loss of one forward with `options` vs fp32, same weights, inputs and shuffle; relative difference."""
    fp32 = StepOptions()
    base = trainable(config, device, fp32)
    pair = next(synthetic_pairs(batch, config.data.image_size, device, fp32))
    losses = []
    for opts in (fp32, options):
        model = prepare_model(copy.deepcopy(base.model), opts)
        torch.manual_seed(1)  # the same shuffle-BN permutation in both
        with torch.no_grad():
            im_q, im_k = (to_input(x, device, opts) for x in pair)
            losses.append(base.forward(model.train(), (im_q, im_k), opts)[0].item())
    rel = abs(losses[1] - losses[0]) / max(abs(losses[0]), 1e-12)
    return {"loss_fp32": losses[0], "loss_options": losses[1], "rel_diff": rel, "rtol": LOSS_RTOL}


def loader_pairs(
    config: RunConfig, data: Any, device: torch.device, options: StepOptions, **kw: Any
) -> tuple[TwoViewLoader, Iterator[Pair]]:
    """Endless (im_q, im_k) from the real pre-training loader of `config` (epochs cycle)."""
    root = open_data(data).root
    samples, _, classes = list_train_val(root, config.data.max_images_per_class)
    spec = two_view_spec(config)
    loader = build_two_view_loader(spec, root, samples, classes, 0, DistInfo.single(device), options, **kw)
    return loader, loader.pairs_forever()


def bench_step(
    config: RunConfig,
    device: torch.device,
    options: StepOptions,
    steps: int,
    warmup: int,
    loader: str = "auto",
    augment_on: str = "auto",
    data: Any = None,
    check_loss: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Synthetic inputs, then the real loader (unless loader == "none"), same model; figures and ratio."""
    if config.data.augmentation == "supervised":  # single labelled views: no pairs to time
        raise UsageError("bench step measures the contrastive step; pick a MoCo or end-to-end recipe")
    batch = config.optim.batch_size
    record: dict[str, Any] = {
        "recipe": config.run.recipe,
        "scale": config.run.scale,
        "arch": config.method.arch,
        "image_size": config.data.image_size,
        "device": device_name(device),
        "batch": batch,
        "step_options": options.describe(),
    }
    if check_loss:
        log("loss check: one forward with these options vs fp32")
        record["loss_check"] = check = loss_check(config, batch, device, options)
        if check["rel_diff"] > check["rtol"]:
            raise UsageError(
                f"loss with {options.describe()} is {check['loss_options']:.4f} vs fp32 "
                f"{check['loss_fp32']:.4f} (relative {check['rel_diff']:.3g} > {check['rtol']}); "
                "drop a step option (--options auto,-bf16)"
            )
    method = trainable(config, device, options)
    log(f"synthetic inputs: {warmup} warm-up + {steps} timed steps")
    synth = synthetic_pairs(batch, config.data.image_size, device, options)
    figures = measure(method, synth, batch, steps, warmup, options, device)
    record["synthetic"] = figures.as_dict()
    if loader != "none":
        two_view, real = loader_pairs(config, data, device, options, kind=loader, augment_on=augment_on)
        record["pipeline"] = two_view.describe()
        log(f"real loader ({two_view.kind}, colour on {two_view.augment_on}): {warmup} + {steps} steps")
        fig = measure(method, real, batch, steps, warmup, options, device)
        record["loader"] = fig.as_dict()
        record["loader_over_synthetic"] = fig.pairs_per_s / record["synthetic"]["pairs_per_s"]
    return record


def rich_table(record: dict[str, Any]) -> Table:
    """`bench step`'s figures for the terminal: one row per input kind."""
    view = Table(
        title=f"bench step: {record['recipe']} ({record['arch']}, {record['image_size']} px, batch "
        f"{record['batch']}) on {record['device']}, options {record['step_options']}"
    )
    for col in ("inputs", "pairs/s", "s/step", "peak memory (GiB)", "memory kind", "loss first→last"):
        view.add_column(col, justify="right")
    for key in ("synthetic", "loader"):
        if key in record:
            r = record[key]
            name = key if key == "synthetic" else f"loader ({record['pipeline']['loader']})"
            gib = r["peak_bytes"] / 2**30
            view.add_row(
                name, f"{r['pairs_per_s']:.1f}", f"{r['seconds_per_step']:.3f}", f"{gib:.2f}",
                r["memory_kind"], f"{r['loss_first']:.3f}→{r['loss_last']:.3f}",
            )  # fmt: skip
    return view


def summary_lines(record: dict[str, Any]) -> list[str]:
    """The loss check and the loader / synthetic ratio, as lines under the table."""
    lines = []
    if "loss_check" in record:
        c = record["loss_check"]
        lines.append(
            f"loss vs fp32: {c['loss_options']:.5f} vs {c['loss_fp32']:.5f} (relative {c['rel_diff']:.2e})"
        )
    if "loader_over_synthetic" in record:
        lines.append(f"real loader / synthetic: {record['loader_over_synthetic']:.2f}")
    return lines

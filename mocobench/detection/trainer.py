"""Detectron2's DefaultTrainer, with the three things a CPU-friendly, torchrun-launched tool needs changed.

1. DDP is created with `device_ids` only on GPUs (Detectron2's `create_ddp_model` always passes the local
   rank, which CPU/gloo processes reject), so multi-process fine-tuning runs on CPUs too.
2. Progress is a Rich bar (iteration, losses, lr, ETA) instead of log lines; the log goes to `log.txt`
   and the metrics to `metrics.json` (Detectron2's JSONWriter) in the trial folder, and the same scalars
   (smoothed as its TensorboardXWriter does) to the run's logger (`<run>/tensorboard/voc-trial<k>`, W&B).
3. The evaluator is `VocEvaluator` (Detectron2's VOC evaluator plus detections and per-class AP50).
Everything else — optimizer, lr schedule with warm-up, multi-scale loader, precise BN, checkpointing,
resume, test — is DefaultTrainer's own code, configured by the cfg.
"""

from __future__ import annotations

import logging
import time
import weakref
from pathlib import Path
from typing import Any

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.engine import DefaultTrainer, HookBase, SimpleTrainer, TrainerBase
from detectron2.utils import comm
from detectron2.utils.events import CommonMetricPrinter, EventWriter, JSONWriter, get_event_storage
from torch.nn.parallel import DistributedDataParallel

from mocobench.detection.evaluator import VocEvaluator
from mocobench.runtime.logging_sinks import RunLogger
from mocobench.runtime.progress import console


class ProgressHook(HookBase):
    """A Rich progress bar over iterations: total and per-part losses, lr, seconds per iteration, ETA."""

    def __init__(self, max_iter: int, start_iter: int, enabled: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]fine-tune"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
        )
        self.task = self.progress.add_task("iterations", total=max_iter, completed=start_iter, info="")
        self.started = 0.0

    def before_train(self) -> None:
        self.progress.start()
        self.started = time.perf_counter()

    def after_step(self) -> None:
        latest = self.trainer.storage.latest()
        losses = {k: v for k, (v, _) in latest.items() if k.startswith("loss_")}
        total = sum(losses.values())
        parts = " ".join(f"{k[5:].replace('_', '')} {v:.2f}" for k, v in sorted(losses.items()))
        lr = latest.get("lr", (float("nan"), 0))[0]
        done = self.trainer.iter + 1 - self.trainer.start_iter
        per_iter = (time.perf_counter() - self.started) / max(done, 1)
        info = f"loss {total:.3f} ({parts})  lr {lr:.4g}  {per_iter:.2f} s/it"
        self.progress.update(self.task, completed=self.trainer.iter + 1, info=info)

    def after_train(self) -> None:
        self.progress.stop()


class LoggerWriter(EventWriter):
    """Detectron2's scalars (losses, lr, time, the test's bbox/AP...) to a `RunLogger` (TensorBoard, W&B),
    median-smoothed over `window` iterations, each iteration once, as its TensorboardXWriter writes them."""

    def __init__(self, logger: RunLogger, window: int = 20):
        self.logger, self.window, self.last = logger, window, -1

    def write(self) -> None:
        by_iter: dict[int, dict[str, float]] = {}
        for k, (v, it) in get_event_storage().latest_with_smoothing_hint(self.window).items():
            if it > self.last:
                by_iter.setdefault(it, {})[k] = v
        for it in sorted(by_iter):  # W&B's steps only go up
            self.logger.log(by_iter[it], it)
        self.last = max([self.last, *by_iter])

    def close(self) -> None:  # the caller finishes the logger, with the trial's AP
        pass


class VocTrainer(DefaultTrainer):
    def __init__(
        self,
        cfg: Any,
        image_ids: list[str],
        image_set: Path | None,
        show_progress: bool = True,
        logger: RunLogger | None = None,
    ):
        TrainerBase.__init__(self)
        self.image_ids, self.image_set, self.show_progress = image_ids, image_set, show_progress
        self.logger = logger or RunLogger()
        self.results: dict[str, Any] | None = None
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        if comm.get_world_size() > 1:
            gpu = [comm.get_local_rank()] if cfg.MODEL.DEVICE.startswith("cuda") else None
            model = DistributedDataParallel(model, device_ids=gpu, broadcast_buffers=False)
        self._trainer = SimpleTrainer(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = DetectionCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def build_hooks(self) -> list[HookBase]:
        hooks = super().build_hooks()
        if comm.is_main_process():
            hooks.insert(0, ProgressHook(self.max_iter, self.start_iter, self.show_progress))
        return hooks

    def build_writers(self) -> list[Any]:
        return [
            CommonMetricPrinter(self.max_iter),
            JSONWriter(str(Path(self.cfg.OUTPUT_DIR) / "metrics.json")),
            LoggerWriter(self.logger),
        ]

    def resume_or_load(self, resume: bool = True) -> None:
        super().resume_or_load(resume)
        for hook in self._hooks:  # the bar starts where a resumed trial left off
            if isinstance(hook, ProgressHook):
                hook.progress.update(hook.task, completed=self.start_iter)

    def test(self, cfg: Any, model: Any, evaluators: Any = None) -> dict[str, Any]:  # type: ignore[override]
        """Score the test split (called by DefaultTrainer's EvalHook after the last iteration)."""
        name = cfg.DATASETS.TEST[0]
        if comm.is_main_process() and self.show_progress:
            console.print(f"evaluating on {len(self.image_ids)} test images")
        evaluator = VocEvaluator(name, Path(cfg.OUTPUT_DIR) / "detections", self.image_ids, self.image_set)
        results = DefaultTrainer.test(cfg, model, [evaluator])
        self.results = {**results.get("bbox", {}), **evaluator.rescored} if results else {}
        return results


def configure_logging(out_dir: Path) -> None:
    """Detectron2's and fvcore's logs to `out_dir/log.txt` on the main process, not the console."""
    handler = (
        logging.FileHandler(Path(out_dir) / "log.txt") if comm.is_main_process() else logging.NullHandler()
    )
    handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s] %(message)s", "%m/%d %H:%M:%S"))
    for name in ("detectron2", "fvcore", "d2"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def seconds_per_iteration(metrics: Path) -> float | None:
    """Median `time` (s/iteration, data loading included) from Detectron2's metrics.json, if any."""
    import json
    import statistics

    if not metrics.is_file():
        return None
    times = [json.loads(line).get("time") for line in metrics.read_text().splitlines() if line.strip()]
    times = [t for t in times if t is not None]
    return statistics.median(times) if times else None

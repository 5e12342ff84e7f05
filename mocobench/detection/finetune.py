"""`mocobench detect-voc`: fine-tune Faster R-CNN R50-C4 on VOC 07+12 from a backbone, score on 07 test.

One trial = convert the backbone to Detectron2's naming (`export.to_detectron2`), build the official MoCo
config at the scale (`config.build_cfg`), train with Detectron2's trainer, evaluate with its VOC evaluator
and append the trial to `voc.json` in the run folder (atomically, after each trial). The paper reports the
mean of 5 trials (`--trials 5`); trials of the same initialisation, protocol and data resume and are never
mixed with others. Runs in one process or under torchrun (one process per GPU; gloo on CPUs).
"""

from __future__ import annotations

import os
import pickle
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mocobench.config.detection import config_digest, paper_config_path, paper_document, scaled_protocol
from mocobench.config.scales import scale_rules
from mocobench.data.voc import VocLayout, find_devkit
from mocobench.data.voc_synth import embedded_voc
from mocobench.detection.cfg import DEPTHS, build_cfg
from mocobench.detection.export import require_imagenet_stem, to_detectron2
from mocobench.detection.install import require_detectron2
from mocobench.errors import UsageError
from mocobench.evaluate.pretrained import Pretrained, load_pretrained, origin, results_dir
from mocobench.results import layout
from mocobench.results.trials import finished_trials, mean_std, run_missing_trials
from mocobench.runtime import atomic, logging_sinks
from mocobench.runtime.distributed import barrier, init_distributed
from mocobench.runtime.environment import environment

RESULT = layout.VOC
METRICS = ("AP", "AP50", "AP75")
RANDOM = "random"


@dataclass(frozen=True)
class Init:
    """The detector's backbone initialisation: a pre-trained checkpoint, or random (`--pretrained random`)."""

    arch: str
    pretrained: Pretrained | None

    @property
    def label(self) -> str:
        return str(self.pretrained.path.resolve()) if self.pretrained else RANDOM


def resolve_init(
    source: str | Path, scale: str | None, arch: str | None, trust: bool = False, fmt: str | None = None
) -> tuple[Init, str]:
    """The initialisation and the scale to fine-tune at (the run's own scale unless given)."""
    if str(source) == RANDOM:
        scale = scale or "paper"
        return Init(arch or scale_rules(scale).get("arch", "resnet50"), None), scale
    pretrained = load_pretrained(Path(source), trust, fmt_name=fmt)
    require_imagenet_stem(pretrained)
    if arch and arch != pretrained.arch:
        raise UsageError(f"--arch {arch} but {source} holds a {pretrained.arch}; drop --arch")
    return Init(pretrained.arch, pretrained), pretrained.scale_or(scale)


def default_out_dir(init: Init, scale: str) -> Path:
    """A run's own folder, a foreign checkpoint's as for linear, or `<runs>/<scale>/random-init/<arch>`."""
    if init.pretrained is not None:
        return results_dir(init.pretrained, scale)
    return layout.random_init_dir(scale, init.arch)


def protocol(scale: str, arch: str) -> dict[str, Any]:
    """What the trials of one voc.json must share: the scaled schedule and sizes, the model, the config file.

    Computed before anything runs or is written (the same values `build_cfg` puts in the cfg; tested).
    """
    p = scaled_protocol(scale)
    doc = paper_document()
    model = doc["MODEL"]
    return {
        "config": paper_config_path().name,
        "config_sha256": config_digest(),
        **{k: p[k] for k in ("max_iter", "ims_per_batch", "base_lr", "steps", "warmup_iters")},
        "min_size_train": p["min_size_train"],
        "min_size_test": p["min_size_test"],
        "depth": DEPTHS[arch],
        "norm": model["RESNETS"]["NORM"],
        "roi_heads": model["ROI_HEADS"]["NAME"],
        "precise_bn_iters": p["precise_bn_iters"] if doc["TEST"]["PRECISE_BN"]["ENABLED"] else 0,
    }


def summarize(trials: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(trials)}
    for metric in METRICS:
        out[metric], out[f"{metric}_std"] = mean_std([t[metric] for t in trials])
    return out


def _weights(init: Init, folder: Path, is_main: bool) -> str:
    """The backbone as a Detectron2 .pkl in the run's detection folder ("" for random init)."""
    if init.pretrained is None:
        return ""
    path = folder / f"backbone-{init.arch}.pkl"
    if is_main:
        atomic.write_bytes(path, pickle.dumps(to_detectron2(init.pretrained.state)))
    barrier()
    return str(path)


def _clean(trial_dir: Path, keep_weights: bool) -> None:
    """Checkpoints are large (R50-C4 with momentum: ~0.5 GB); keep only model_final.pth if asked."""
    for path in trial_dir.glob("*.pth"):
        if not (keep_weights and path.name == "model_final.pth"):
            path.unlink()
    (trial_dir / "last_checkpoint").unlink(missing_ok=True)


def run_trial(
    cfg: Any,
    registered: Any,
    show_progress: bool,
    resume: bool,
    logger: logging_sinks.RunLogger | None = None,
) -> tuple[dict[str, Any], float | None]:
    """Train and test one cfg; returns Detectron2's bbox results (main process) and s/iteration."""
    from detectron2.utils import comm
    from detectron2.utils.env import seed_all_rng

    from mocobench.detection.trainer import VocTrainer, configure_logging, seconds_per_iteration

    Path(cfg.OUTPUT_DIR).mkdir(parents=True, exist_ok=True)
    configure_logging(Path(cfg.OUTPUT_DIR))
    seed_all_rng(cfg.SEED + comm.get_rank())
    trainer = VocTrainer(cfg, list(registered.test_ids), registered.test_image_set, show_progress, logger)
    trainer.resume_or_load(resume=resume)
    trainer.train()
    return trainer.results or {}, seconds_per_iteration(Path(cfg.OUTPUT_DIR) / "metrics.json")


def detect_voc(
    source: str | Path,
    data: Path | None = None,
    scale: str | None = None,
    seed: int = 0,
    trials: int = 1,
    out_dir: Path | None = None,
    device: str = "auto",
    overwrite: bool = False,
    keep_weights: bool = False,
    arch: str | None = None,
    show_progress: bool = True,
    trust: bool = False,
    wandb: bool = False,
    wandb_project: str | None = None,
    fmt: str | None = None,
) -> tuple[dict[str, Any], Path]:
    """Run the missing trials into `out_dir/voc.json`; returns the result and its path. Each trial's
    Detectron2 scalars and AP go to `out_dir/tensorboard/voc-trial<k>` and, with `wandb`, to W&B."""
    if trials < 1:
        raise UsageError(f"--trials must be at least 1, not {trials}")
    init, scale = resolve_init(source, scale, arch, trust, fmt)  # refuses a checkpoint that cannot convert
    require_detectron2()
    from detectron2.utils import comm

    from mocobench.detection.datasets import register_voc, selected_images

    caps = scaled_protocol(scale)  # also checks the scale before anything runs
    layout: VocLayout = find_devkit(data) if data is not None else find_devkit(embedded_voc())
    info = init_distributed(device)
    # Detectron2's own launcher creates its per-machine group; under torchrun we do, once per process.
    if info.distributed and comm._LOCAL_PROCESS_GROUP is None:
        comm.create_local_process_group(int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size)))
    selection = selected_images(layout, caps["max_train_images"], caps["max_test_images"])
    n_train, test_ids = selection
    out_dir = Path(out_dir) if out_dir else default_out_dir(init, scale)
    folder = out_dir / "detection"
    path = out_dir / RESULT
    ident = {
        "init": init.label,
        "checkpoint_epoch": init.pretrained.epoch if init.pretrained else None,
        "protocol": protocol(scale, init.arch),
        "data": str(layout.devkit.resolve()),
        "images": {"train": n_train, "test": len(test_ids)},
    }
    done = finished_trials(path, ident, overwrite, "VOC detection")  # refuses a mix before writing
    if overwrite and info.is_main and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    barrier()
    registered = register_voc(layout, folder, caps["max_train_images"], selection)
    weights = _weights(init, folder, info.is_main)
    env = environment(info.device, info.world_size, info.backend)
    configs: dict[int, Any] = {}  # each trial's cfg, dumped beside its results once they are recorded

    def run_one(trial: int) -> dict[str, Any] | None:
        trial_dir = folder / f"trial{trial}"
        cfg = build_cfg(
            scale, init.arch, weights, registered.train, registered.test, len(registered.classes),
            trial_dir, seed + trial, info.device.type, info.world_size,
        )  # fmt: skip
        configs[trial] = cfg
        resume = (trial_dir / "last_checkpoint").is_file()
        started = time.perf_counter()
        run_config = {**ident, "seed": seed + trial, "trial": trial}
        logger = logging_sinks.open_logger(
            out_dir, f"voc-trial{trial}", run_config, main=info.is_main, wandb=wandb, project=wandb_project
        )
        with logger:
            bbox, per_iter = run_trial(cfg, registered, show_progress, resume, logger)
        logger.finish(run_config, {m: bbox.get(m) for m in (*METRICS, "AP50_rescored")})
        if not info.is_main:
            return None
        return {
            "seed": seed + trial,
            **{m: float(bbox[m]) for m in METRICS},
            "per_class_AP50": bbox.get("per_class_AP50", {}),
            "AP50_rescored": bbox.get("AP50_rescored"),
            "seconds": time.perf_counter() - started,
            "seconds_per_iter": per_iter,
            "iterations": cfg.SOLVER.MAX_ITER,
            "resumed": resume,
            "device": env["device"],
            "world_size": info.world_size,
        }

    def recorded(trial: int) -> None:
        atomic.write_text(folder / f"trial{trial}" / "config.yaml", configs[trial].dump())
        _clean(folder / f"trial{trial}", keep_weights)

    done = run_missing_trials(
        path, done, trials, run_one, lambda t: _result(init, scale, ident, t, env), recorded
    )
    barrier()
    if not info.is_main or not done:
        return {}, path
    return _result(init, scale, ident, done, env), path


def _result(
    init: Init, scale: str, ident: dict[str, Any], trials: list[dict[str, Any]], env: dict[str, Any]
) -> dict[str, Any]:
    return {
        **summarize(trials),
        "scale": scale,
        **ident,
        "arch": init.arch,
        "source": init.pretrained.source if init.pretrained else RANDOM,
        "format": init.pretrained.format if init.pretrained else None,
        **origin(init.pretrained),
        "metric": "VOC2007 11-point AP, mean over classes; AP = mean over IoU 0.50:0.05:0.95 (Detectron2)",
        "env": env,
        "trials": trials,
    }

"""VOC fine-tuning logs Detectron2's scalars and each trial's AP to `<out>/tensorboard/voc-trial<k>`, W&B."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from logs import tb_scalars, wandb_offline_runs

from mocobench.data.voc_synth import VocSynthSpec, write_voc
from mocobench.detection import finetune
from mocobench.detection.trainer import LoggerWriter
from mocobench.runtime.logging_sinks import RunLogger


@pytest.fixture(scope="module")
def tiny_voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = VocSynthSpec(image_size=64, trainval_2007=10, trainval_2012=8, test_2007=12)  # test_finetune's
    return write_voc(tmp_path_factory.mktemp("voc") / "tiny", spec) / "VOCdevkit"


class Recorder(RunLogger):
    def __init__(self) -> None:
        super().__init__()
        self.logged: list[tuple[int, dict]] = []

    def log(self, scalars: dict, step: int) -> None:
        self.logged.append((step, scalars))


def test_detectron2s_scalars_reach_the_logger_once_per_iteration():
    from detectron2.utils.events import EventStorage

    logger = Recorder()
    writer = LoggerWriter(logger, window=1)
    with EventStorage(start_iter=0) as storage:
        for it in range(3):
            storage.iter = it
            storage.put_scalars(total_loss=3.0 - it, lr=0.01)
            if it == 2:
                storage.put_scalar("bbox/AP50", 12.5, smoothing_hint=False)
            writer.write()
        writer.write()  # nothing new
    assert logger.logged == [
        (0, {"total_loss": 3.0, "lr": 0.01}),
        (1, {"total_loss": 2.0, "lr": 0.01}),
        (2, {"total_loss": 1.0, "lr": 0.01, "bbox/AP50": 12.5}),
    ]


@pytest.mark.slow
def test_a_trial_logs_its_losses_and_ap(tiny_voc, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "out"
    result, _ = finetune.detect_voc("random", tiny_voc, "smoke", out_dir=out, show_progress=False, wandb=True)
    trial = result["trials"][0]
    logged = tb_scalars(out / "tensorboard" / "voc-trial0")
    lines = (out / "detection" / "trial0" / "metrics.json").read_text().splitlines()
    metrics = [json.loads(line) for line in lines if line.strip()]
    assert [s for s, _ in logged["total_loss"]] == [m["iteration"] for m in metrics if "total_loss" in m]
    assert {"lr", "loss_cls", "loss_box_reg", "bbox/AP", "bbox/AP50", "bbox/AP75"} <= set(logged)
    for m in ("AP", "AP50", "AP75"):
        assert logged[f"final/{m}"] == [(0, pytest.approx(trial[m]))]
    (wb,) = wandb_offline_runs(tmp_path / "wb")
    assert wb["name"] == "out/voc-trial0" and wb["config"]["init"] == "random"
    assert wb["summary"]["final/AP50"] == pytest.approx(trial["AP50"])
    steps = sorted({s for k, v in logged.items() if not k.startswith("final/") for s, _ in v})
    assert [h["_step"] for h in wb["history"]] == steps
    assert wb["history"][-1]["bbox/AP50"] == pytest.approx(trial["AP50"]) == logged["bbox/AP50"][0][1]

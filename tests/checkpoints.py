"""Checkpoint files in each format `mocobench linear` reads, built from small ResNet-18s."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torchvision

from mocobench.models.encoders import encoder_builder
from mocobench.models.moco import MoCo
from mocobench.run.config import resolve
from mocobench.runtime import checkpoint


def moco_model(mlp: bool = True) -> MoCo:
    torch.manual_seed(0)
    return MoCo(encoder_builder("resnet18", 2), dim=16, K=32, m=0.99, T=0.2, mlp=mlp)


def write_run(
    run_dir: Path,
    model: torch.nn.Module,
    recipe: str = "mlp+aug+cos",
    finished: bool = True,
    scale: str = "smoke",
    data: Path | None = None,
) -> Path:
    """A run folder as `mocobench pretrain` leaves it (checkpoint in the official layout, config, summary)."""
    run_dir.mkdir(parents=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    checkpoint.save(run_dir / checkpoint.LAST, model, opt, 2, "resnet18", {"seed": 0})
    config = resolve(recipe, scale, ["arch=resnet18"]).replace(seed=0, data=str(data or ""))
    (run_dir / "config.json").write_text(json.dumps(config.flat()))
    if finished:
        (run_dir / "summary.json").write_text(json.dumps({"finished": True}))
    return run_dir


def official_moco_file(path: Path, mlp: bool = True) -> tuple[Path, MoCo]:
    """What the official main_moco.py saves: DDP keys, no 'mocobench' entry."""
    model = moco_model(mlp)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 200, "arch": "resnet18", "state_dict": state, "optimizer": {}}, path)
    return path, model


def torchvision_file(path: Path, num_classes: int = 1000) -> tuple[Path, torch.nn.Module]:
    """A bare torchvision state_dict (as released supervised weights): no arch, no prefix."""
    torch.manual_seed(1)
    model = torchvision.models.resnet18(num_classes=num_classes)
    torch.save(model.state_dict(), path)
    return path, model


class RunsCommand:
    """Unpickling this object runs a shell command (what a hostile download does): it creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def hostile_file(path: Path, marker: Path) -> Path:
    """An official-layout MoCo checkpoint whose pickle also carries a command."""
    model = moco_model()
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 200, "arch": "resnet18", "state_dict": state, "payload": RunsCommand(marker)}, path)
    return path

"""`run/memory.py`: a config whose training step cannot fit its device is refused in one line, fast (meta
device), and no recipe at a tier meant for that device is."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from mocobench.config.recipes import all_recipes
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.run import memory
from mocobench.run.config import resolve
from mocobench.run.memory import GiB, activation_estimate, check_fits, device_memory, state_estimate

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
SCALES = ("paper", "gpu", "cpu", "smoke")


def every_config() -> list[RunConfig]:
    out = []
    for scale in SCALES:
        for name, recipe in all_recipes().items():
            if recipe.reference and scale not in ("paper", "smoke"):
                continue  # a published one-GPU setting runs only as published or as a smoke check
            out.append(resolve(name, scale))
    return out


def huge(config: RunConfig) -> RunConfig:
    """`config` at image_size 100000, past fields.py's range on purpose: what the estimate alone judges."""
    return dataclasses.replace(config, data=dataclasses.replace(config.data, image_size=100000))


def refused(config: RunConfig, device: torch.device, world_size: int, memory_bytes: int) -> str | None:
    try:
        check_fits(config, device, world_size, memory_bytes)
    except UsageError as e:
        return str(e)
    return None


def test_a_huge_image_is_refused_in_one_line_without_allocating_it():
    config = huge(resolve("mlp+aug+cos", "smoke"))  # past fields.py's range on purpose
    message = refused(config, CPU, 1, 24 * GiB)  # ~3e4 GiB: only the meta device could have estimated it
    assert message and "\n" not in message
    assert message.startswith("resnet18 (imagenet stem) at image_size=100000 with 16 images a process needs")
    assert "more than the 24.0 GiB of the cpu device; use " in message and "--set image_size=" in message


def test_the_suggested_fix_fits():
    config = resolve("mlp+aug+cos", "paper")
    message = refused(config, CUDA, 1, 24 * GiB)
    assert message and "at most" in message and "--set image_size=" in message
    batch = int(message.split("at most ")[1].split()[0])
    size = int(message.split("--set image_size=")[1].split()[0])
    assert refused(config.replace(batch_size=batch), CUDA, 1, 24 * GiB) is None
    assert refused(config.replace(image_size=size), CUDA, 1, 24 * GiB) is None
    assert refused(config.replace(batch_size=batch + 8), CUDA, 1, 24 * GiB)


def test_every_recipe_fits_an_80_gib_gpu_at_every_tier():
    """One GPU for the small tiers; the paper's rows at most 256 images a GPU (b4096 on 16, b8192 on 32)."""
    for config in every_config():
        world_size = math.ceil(config.optim.batch_size / 256) if config.run.scale == "paper" else 1
        assert refused(config, CUDA, world_size, 80 * GiB) is None, (config.run.recipe, config.run.scale)


def test_the_small_tiers_fit_a_24_gib_cpu():
    """Every row of the cpu and smoke tiers and the published CIFAR-10 demo on one 24 GiB CPU process; the
    gpu tier too, but for its b8192 row: 2048 images of two views at the CIFAR stem's 32x32 maps (about 34
    GiB), and the paper's ResNet-50 rows (76 GiB and up): a GPU tier and a GPU cluster's."""
    for config in every_config():
        name, scale = config.run.recipe, config.run.scale
        too_big = (scale == "gpu" and name == "simclr-b8192") or (
            scale == "paper" and config.method.arch == "resnet50"
        )
        message = refused(config, CPU, 1, 24 * GiB)
        assert (message is not None) == too_big, (name, scale, message)


def test_the_estimate_follows_the_image_area_the_batch_and_the_views():
    config = resolve("mlp+aug+cos", "smoke", ["image_size=64"])
    one, four = activation_estimate(config, 1), activation_estimate(config, 4)
    assert four == pytest.approx(4 * one, rel=1e-6)
    bigger = activation_estimate(config.replace(image_size=128), 1)
    assert 3.5 < bigger / one < 4.5
    # the views a step back-propagates through: one for MoCo (keys under no_grad) and the supervised row,
    # two for end-to-end and SimCLR
    supervised = resolve("supervised", "smoke", ["image_size=64"])
    assert activation_estimate(supervised, 1) == pytest.approx(one, rel=0.02)
    e2e = resolve("end-to-end-b256", "smoke", ["image_size=64"])
    assert activation_estimate(e2e, 1) == pytest.approx(2 * one, rel=0.02)
    # ResNet-50 at 224 px: ~120 MiB of leaf outputs an image (one view with gradients, x1.25: ~150 MiB)
    paper = resolve("mlp+aug+cos", "paper")
    assert 125 * 2**20 < activation_estimate(paper, 1) < 175 * 2**20
    assert 0.3 * GiB < state_estimate(paper) < 0.5 * GiB  # 4 x 28M parameters + the 32 MiB queue


def test_processes_on_one_cpu_share_its_memory(monkeypatch: pytest.MonkeyPatch):
    config = resolve("mlp+aug+cos", "cpu")
    need = activation_estimate(config, 64) + state_estimate(config)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert refused(config, CPU, 2, 2 * need - 1)
    assert refused(config, CPU, 2, 2 * need) is None
    assert refused(config, CUDA, 2, need) is None  # a GPU each
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")  # one process on each of two machines
    assert refused(config, CPU, 2, need) is None


def test_the_device_memory_is_read_where_known(monkeypatch: pytest.MonkeyPatch):
    ram, words = device_memory(CPU)
    assert 0 < ram <= memory.os.sysconf("SC_PAGE_SIZE") * memory.os.sysconf("SC_PHYS_PAGES")
    assert words in ("this machine's RAM", "this container's memory limit (cgroup)")
    assert device_memory(torch.device("meta")) is None
    if not torch.cuda.is_available():
        assert device_memory(CUDA) is None
        check_fits(huge(resolve("mlp+aug+cos", "smoke")), CUDA, 1)  # not judged
    else:
        total, words = device_memory(CUDA)
        assert total > GiB and "cuda:" in words

"""The tiers: what each makes of a row on its data (steps, K/N, blur px, BN groups), and what it refuses."""

from __future__ import annotations

import pytest

from mocobench.config.linear import resolve_linear
from mocobench.config.scales import SCALES, fit_moco_k, row_refusal, steps_refusal
from mocobench.errors import UsageError
from mocobench.run.config import facts as scale_facts
from mocobench.run.config import fit_to_data, resolve

CIFAR_TRAIN = 50_000
EMBEDDED_CPU = 8_000


def test_tiers_and_the_old_name():
    assert SCALES == ("paper", "gpu", "cpu", "smoke")
    assert resolve("mlp+aug+cos", "mini") == resolve("mlp+aug+cos", "cpu")  # runs/mini are cpu-tier runs
    assert resolve("mlp+aug+cos", "mini").run.scale == "cpu"


def test_gpu_tier_settings():
    v1, d, e = (resolve(n, "gpu") for n in ("moco-v1", "mlp+aug+cos", "mlp+aug+cos+800ep"))
    assert (v1.method.arch, v1.method.stem, v1.data.image_size) == ("resnet18", "cifar", 32)
    assert (v1.optim.epochs, d.optim.epochs, e.optim.epochs) == (100, 100, 400)
    assert (v1.optim.batch_size, v1.optim.lr, v1.method.bn_group, v1.method.moco_m) == (
        64,
        pytest.approx(0.0075),
        16,
        0.99,
    )
    assert (
        resolve("simclr-b8192", "gpu").optim.batch_size == 2048
        and resolve("simclr-b256", "gpu").optim.batch_size == 64
    )
    assert v1.data.embedded_per_class == 5000  # the embedded set grown to 50,000, like CIFAR
    lin = resolve_linear("gpu")
    assert (lin["epochs"], lin["batch_size"], lin["lr"], lin["schedule"]) == (50, 64, 7.5, [30, 40])


def test_cpu_tier_keeps_the_mini_settings():
    c = resolve("mlp+aug+cos", "cpu")
    m = c.method
    assert (c.optim.epochs, c.optim.batch_size, m.moco_k, m.moco_m, m.bn_group, m.stem) == (
        20, 128, 1024, 0.99, 16, "imagenet",
    )  # fmt: skip
    assert fit_moco_k(c, EMBEDDED_CPU) == 1024  # a fixed K, no fraction


def test_k_is_imagenets_fraction_of_the_data_in_multiples_of_the_batch():
    c = resolve("moco-v1", "gpu")
    assert fit_moco_k(c, CIFAR_TRAIN) == 2560  # 0.0512 x 50,000 = 2,560 = 40 batches of 64
    assert fit_moco_k(c, 105_000) == 5376  # STL-10 train + unlabeled
    assert fit_moco_k(c, 100) == 64  # at least one batch
    assert fit_moco_k(resolve("moco-v1", "gpu", ["moco_k=4096"]), CIFAR_TRAIN) == 4096  # --set wins
    fitted = fit_to_data(c.replace(mean=[]), CIFAR_TRAIN, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
    assert fitted.method.moco_k == 2560 and fitted.data.mean == (0.4914, 0.4822, 0.4465)


def test_meaningless_rows_are_refused_with_one_line():
    b8192 = resolve("simclr-b8192", "cpu")  # batch 4096 over the 8,000 embedded images: 1 step an epoch
    line = row_refusal(b8192, EMBEDDED_CPU)
    assert line is not None and "\n" not in line
    assert "batch 4096 takes 1 step an epoch over 8,000 images" in line and ">= 81,920 images" in line
    with pytest.raises(UsageError, match="takes 1 step an epoch"):
        fit_to_data(b8192, EMBEDDED_CPU, (0.5,) * 3, (0.5,) * 3)
    assert row_refusal(resolve("end-to-end-b4096", "cpu"), EMBEDDED_CPU) is not None  # 2048: 3 steps
    assert row_refusal(resolve("simclr-b256", "cpu"), EMBEDDED_CPU) is None  # 128: 62 steps
    assert row_refusal(resolve("simclr-b8192", "gpu"), CIFAR_TRAIN) is None  # 2048: 24 steps
    assert row_refusal(resolve("simclr-b8192", "gpu"), 40_000) is not None  # 19 steps
    # smoke is a pipeline check: exempt, even with the batch above the data
    assert row_refusal(resolve("simclr-b8192", "smoke"), 320) is None
    # the linear protocol: linear-simclr's 4096 -> 2048 at cpu takes 3 steps over 8,000 images
    assert steps_refusal("cpu", resolve_linear("cpu", name="linear-simclr")["batch_size"], 8000, "x")
    assert (
        steps_refusal("gpu", resolve_linear("gpu", name="linear-simclr")["batch_size"], 50_000, "x") is None
    )


def test_facts_state_every_derived_figure():
    facts = dict(scale_facts(resolve("simclr-b8192", "gpu"), CIFAR_TRAIN))
    assert facts["steps an epoch"].startswith("24 (batch 2048; 100 epochs, 2,400 steps")
    assert facts["images dropped an epoch"].startswith("848 (1.7%")
    assert facts["BatchNorm"] == "global (synchronised) over the batch of 2048"
    assert "too small to matter" in facts["blur sigma"] and facts["blur sigma"].startswith(
        "0.0143-0.286 px at 32"
    )
    assert facts["row at this tier"].startswith("meaningful")
    moco = dict(scale_facts(resolve("mlp+aug+cos", "gpu"), CIFAR_TRAIN))
    assert moco["K / N"] == "2,560 / 50,000 = 5.1% (ImageNet: 5.1%)"
    assert moco["shuffle BN"] == "4 groups of 16 images (paper: groups of 32, 8 at batch 256)"
    assert moco["key encoder 1/(1-m)"] == "100 steps = 0.13 epoch"
    refused = dict(scale_facts(resolve("simclr-b8192", "cpu"), EMBEDDED_CPU))
    assert refused["row at this tier"].startswith("refused: simclr-b8192 pre-training at --scale cpu")
    smoke = dict(scale_facts(resolve("simclr-b8192", "smoke"), 320))
    assert "pipeline check" in smoke["row at this tier"]
    assert "blur sigma" not in dict(scale_facts(resolve("moco-v1", "gpu"), CIFAR_TRAIN))  # v1 has no blur


@pytest.mark.parametrize("name", ["end-to-end-b256", "end-to-end-b4096"])
@pytest.mark.parametrize(("scale", "group"), [("paper", 32), ("gpu", 16), ("cpu", 16), ("smoke", 4)])
def test_end_to_end_rows_take_the_moco_rows_shuffle_bn_at_every_tier(name, scale, group):
    e2e, moco = resolve(name, scale), resolve("mlp+aug+cos", scale)
    assert e2e.method.bn_group == moco.method.bn_group == group and e2e.optim.batch_size % group == 0
    assert not e2e.method.sync_bn


def test_end_to_end_facts_are_shuffle_bn_and_the_batch_dictionary():
    facts = dict(scale_facts(resolve("end-to-end-b256", "gpu"), CIFAR_TRAIN))
    assert facts["shuffle BN"] == "4 groups of 16 images (paper: groups of 32, 8 at batch 256)"
    assert facts["dictionary"] == "the batch's 64 keys (63 negatives a query)"
    assert "BatchNorm" not in facts and "K / N" not in facts  # no global BN, no queue
    paper = dict(scale_facts(resolve("end-to-end-b4096", "paper"), 1_281_167))
    assert paper["shuffle BN"].startswith("128 groups of 32 images")
    simclr = dict(scale_facts(resolve("simclr-b256", "gpu"), CIFAR_TRAIN))
    assert "shuffle BN" not in simclr and simclr["BatchNorm"].startswith("global (synchronised)")

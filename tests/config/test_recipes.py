"""Recipes are pinned to PAPER.md; scales shrink compute but never a row's knob."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mocobench.config.fields import ROW_KNOBS
from mocobench.config.files import recipes_dir
from mocobench.config.recipes import all_recipes, parse_overrides
from mocobench.errors import UsageError
from mocobench.run.config import resolve

NAMES = [
    "moco-v1", "mlp", "mlp-t0.07", "aug", "mlp+aug", "mlp+aug+cos", "mlp+aug+cos+800ep", "supervised",
    "simclr-b256", "simclr-b8192", "simclr-b4096-1000ep", "end-to-end-b256", "end-to-end-b4096",
]  # fmt: skip
REQUIRED_KEYS = [
    "mechanism", "arch", "epochs", "batch_size", "lr", "momentum", "weight_decay", "cos", "schedule", "mlp",
    "aug_plus", "moco_dim", "moco_k", "moco_m", "moco_t", "image_size",
]  # fmt: skip
MOCO_ROWS = {  # name: (mlp, augmentation, cos, T, epochs) -- PAPER.md Table 1 and the T=0.07 text
    "moco-v1": (False, "moco_v1", False, 0.07, 200),
    "mlp": (True, "moco_v1", False, 0.2, 200),
    "mlp-t0.07": (True, "moco_v1", False, 0.07, 200),
    "aug": (False, "aug_plus", False, 0.07, 200),
    "mlp+aug": (True, "aug_plus", False, 0.2, 200),
    "mlp+aug+cos": (True, "aug_plus", True, 0.2, 200),
    "mlp+aug+cos+800ep": (True, "aug_plus", True, 0.2, 800),
}


REFERENCES = ["moco-cifar10-demo"]  # published small-scale settings, not paper rows


def test_every_recipe_exists_and_names_its_row():
    recipes = all_recipes()
    assert sorted(recipes) == sorted(NAMES + REFERENCES)
    for name, recipe in recipes.items():
        if name in REFERENCES:
            assert not recipe.rows and recipe.reference
        else:
            assert recipe.rows and all(r.table in (1, 2, 3) and r.row for r in recipe.rows)


def test_the_official_cifar10_demo_is_pinned():
    """Every value of facebookresearch/moco colab/moco_cifar10_demo.ipynb (PAPER.md "Small-scale
    reference"): ResNet-18 CIFAR stem, batch 512, lr 0.06, wd 5e-4, K 4096, m 0.99, T 0.1, cosine, 200
    epochs, SplitBatchNorm 8 (64 a group), no MLP, its augmentation, kNN k 200 t 0.1 on the output."""
    c = resolve("moco-cifar10-demo")
    expected = {
        "mechanism": "moco", "arch": "resnet18", "stem": "cifar", "epochs": 200, "batch_size": 512,
        "lr": 0.06, "momentum": 0.9, "weight_decay": 5e-4, "optimizer": "sgd", "cos": True, "mlp": False,
        "augmentation": "cifar_demo", "moco_dim": 128, "moco_k": 4096, "moco_m": 0.99, "moco_t": 0.1,
        "image_size": 32, "bn_group": 64, "knn_k": 200, "knn_t": 0.1, "knn_on": "output",
        "moco_k_fraction": 0.0, "warmup_epochs": 0.0, "lr_per_step": False, "sync_bn": False,
    }  # fmt: skip
    assert {k: c.flat()[k] for k in expected} == expected
    assert (
        c.optim.batch_size // c.method.bn_group == 8
        and c.run.paper_rows == ()
        and "cifar10_demo" in c.run.reference
    )
    assert resolve("moco-cifar10-demo", "smoke").optim.epochs == 2  # a pipeline check of it
    for scale in ("gpu", "cpu", "mini"):
        with pytest.raises(UsageError, match="run it as published"):
            resolve("moco-cifar10-demo", scale)


@pytest.mark.parametrize("name", NAMES)
def test_resolved_config_has_the_official_keys(name):
    config = resolve(name)
    for key in REQUIRED_KEYS:
        assert key in config.flat()
    assert config.run.recipe == name and config.run.scale == "paper"


@pytest.mark.parametrize("name", list(MOCO_ROWS))
def test_moco_rows_match_paper(name):
    c = resolve(name)
    mlp, aug, cos, t, epochs = MOCO_ROWS[name]
    assert (c.method.mlp, c.data.augmentation, c.optim.cos, c.method.moco_t, c.optim.epochs) == (
        mlp,
        aug,
        cos,
        t,
        epochs,
    )
    assert c.data.aug_plus == (aug == "aug_plus")
    assert c.method.mechanism == "moco" and c.method.arch == "resnet50" and c.data.image_size == 224
    assert (c.optim.batch_size, c.optim.lr, c.optim.momentum, c.optim.weight_decay) == (256, 0.03, 0.9, 1e-4)
    assert (c.method.moco_dim, c.method.moco_k, c.method.moco_m) == (128, 65536, 0.999)
    assert c.optim.optimizer == "sgd" and c.optim.warmup_epochs == 0 and not c.optim.lr_per_step
    assert c.optim.schedule == ((120, 160) if epochs == 200 else (480, 640))
    assert c.method.bn_group == 32 and not c.method.sync_bn  # 256 images over the paper's 8 GPUs


@pytest.mark.parametrize(
    ("name", "batch", "epochs"),
    [("simclr-b256", 256, 200), ("simclr-b8192", 8192, 200), ("simclr-b4096-1000ep", 4096, 1000)],
)
def test_simclr_rows_use_simclr_settings(name, batch, epochs):
    c = resolve(name)
    assert c.method.mechanism == "simclr" and c.optim.optimizer == "lars" and c.data.augmentation == "simclr"
    assert c.run.linear_protocol == "linear-simclr"  # scored as SimCLR scored itself
    assert c.optim.batch_size == batch and c.optim.epochs == epochs
    assert c.optim.lr == pytest.approx(0.3 * batch / 256)
    assert (c.optim.weight_decay, c.method.moco_t, c.method.sync_bn, c.method.mlp, c.optim.cos) == (
        1e-6,
        0.1,
        True,
        True,
        True,
    )


def test_end_to_end_rows_keep_moco_v2_settings():
    for name, batch in (("end-to-end-b256", 256), ("end-to-end-b4096", 4096)):
        c = resolve(name)
        assert c.method.mechanism == "end-to-end" and c.optim.batch_size == batch
        assert c.run.linear_protocol == "linear"
        assert c.optim.lr == pytest.approx(0.03 * batch / 256)
        assert (c.method.mlp, c.data.augmentation, c.optim.cos, c.method.moco_t) == (
            True,
            "aug_plus",
            True,
            0.2,
        )
        # MoCo's shuffle BN (MoCo paper sec. 3.3), groups of 32 as the MoCo rows, not SimCLR's global BN.
        assert c.method.bn_group == 32 and not c.method.sync_bn


@pytest.mark.parametrize("name", ["mlp+aug+cos", "end-to-end-b256", "end-to-end-b4096"])
def test_shuffle_bn_rows_refuse_a_batch_off_the_groups_and_global_bn(name):
    with pytest.raises(UsageError, match="batch_size 100 is not a multiple of bn_group 32") as info:
        resolve(name, "paper", ["batch_size=100"])
    assert "\n" not in str(info.value)
    with pytest.raises(
        UsageError, match=r"sync_bn is the SimCLR rows' global BN.*drop --set sync_bn"
    ) as info:
        resolve(name, "paper", ["sync_bn=true"])
    assert "\n" not in str(info.value)
    assert resolve("simclr-b256", "paper", ["batch_size=100"]).optim.batch_size == 100  # no groups there


def test_supervised_is_the_standard_imagenet_recipe():
    c = resolve("supervised")
    assert c.method.mechanism == "supervised" and c.optim.epochs == 90 and c.optim.batch_size == 256
    assert (c.optim.lr, c.optim.momentum, c.optim.weight_decay, c.optim.schedule, c.optim.cos) == (
        0.1,
        0.9,
        1e-4,
        (30, 60),
        False,
    )


@pytest.mark.parametrize("scale", ["gpu", "cpu", "smoke"])
@pytest.mark.parametrize("name", NAMES)
def test_scales_never_change_a_row_knob(name, scale):
    paper, scaled = resolve(name), resolve(name, scale)
    for knob in ROW_KNOBS:
        assert scaled.flat()[knob] == paper.flat()[knob], knob
    assert scaled.method.mlp == paper.method.mlp and scaled.data.aug_plus == paper.data.aug_plus
    # lr follows the batch linearly (PAPER.md); milestones keep their fraction of training.
    assert scaled.optim.lr / scaled.optim.batch_size == pytest.approx(paper.optim.lr / paper.optim.batch_size)


@pytest.mark.parametrize("scale", ["paper", "gpu", "cpu", "smoke"])
def test_scales_keep_epoch_and_batch_ratios(scale):
    e200, e800 = resolve("mlp+aug+cos", scale).optim.epochs, resolve("mlp+aug+cos+800ep", scale).optim.epochs
    assert e800 == 4 * e200
    b256, b8192 = (
        resolve("simclr-b256", scale).optim.batch_size,
        resolve("simclr-b8192", scale).optim.batch_size,
    )
    assert b8192 == 32 * b256


def test_mini_and_smoke_shrink_compute():
    cpu, smoke = resolve("moco-v1", "cpu"), resolve("moco-v1", "smoke")
    assert cpu.method.arch == smoke.method.arch == "resnet18"
    assert cpu.optim.epochs == 20 and smoke.optim.epochs == 2
    assert cpu.optim.schedule == (12, 16)
    assert smoke.optim.batch_size % smoke.method.bn_group == 0


def test_overrides_are_typed_and_checked():
    c = resolve("mlp+aug+cos", "smoke", ["lr=0.5", "cos=false", "schedule=3,4", "moco_k=512"])
    assert (c.optim.lr, c.optim.cos, c.optim.schedule, c.method.moco_k) == (0.5, False, (3, 4), 512)
    assert parse_overrides(["aug_plus=false"]) == {"augmentation": "moco_v1"}
    with pytest.raises(UsageError, match=r"unknown --set key 'mocok'.*moco_k"):
        parse_overrides(["mocok=3"])
    with pytest.raises(UsageError, match="cos takes true or false"):
        parse_overrides(["cos=maybe"])
    with pytest.raises(UsageError, match="key=value"):
        parse_overrides(["lr"])
    with pytest.raises(UsageError, match="does not fit mechanism"):
        resolve("moco-v1", "paper", ["augmentation=supervised"])
    assert resolve("supervised").data.aug_plus is False and resolve("simclr-b256").data.aug_plus is True
    with pytest.raises(UsageError, match="not a multiple of bn_group 32"):
        resolve("moco-v1", "paper", ["batch_size=100"])


def test_unknown_recipe_suggests_nearest():
    with pytest.raises(UsageError, match="did you mean mlp\\+aug\\+cos"):
        resolve("mlp+aug+coss")


def test_scale_file_may_not_set_a_knob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "recipes"
    shutil.copytree(recipes_dir(), folder)
    with open(folder / "scales.toml", "a") as f:
        f.write("\n[cheat]\nmlp = true\n")
    monkeypatch.setenv("MOCOBENCH_RECIPES", str(folder))
    with pytest.raises(UsageError, match="changes a row's knob"):
        resolve("moco-v1", "cpu")


def test_recipes_are_listed_in_the_papers_row_order():
    from mocobench.config.paper import load_paper_table
    from mocobench.config.recipes import listing, recipes_for_table

    names = [row["recipe"] for row in listing()]
    assert sorted(names) == sorted(all_recipes())
    for table in (1, 2):
        by_row = recipes_for_table(table)
        firsts = [r for r in load_paper_table(table)["row"] if r in by_row]
        # Each table's own rows (those whose recipe lists this table first) appear in the CSV's order.
        own = [by_row[r] for r in firsts if all_recipes()[by_row[r]].rows[0].table == table]
        assert [n for n in names if n in own] == own
    assert names[:2] == ["supervised", "moco-v1"]  # Table 1: the baselines, then (a)..(e)


def test_the_cifar10_demo_recipe_is_paper_mds_small_scale_reference(paper_md: str):
    """The values of the recipe, read against PAPER.md's digest of the demo, line by line."""
    from mocobench.data.sources import STATS

    section = paper_md.split("## Small-scale reference", 1)[1].split("\n## ", 1)[0]
    c = resolve("moco-cifar10-demo")
    assert "conv1 3x3 stride 1 padding 1, no max-pool" in section and c.method.stem == "cifar"
    assert "fc -> 128 (no MLP head)" in section and (c.method.moco_dim, c.method.mlp) == (128, False)
    assert f"SGD lr {c.optim.lr:g} for batch {c.optim.batch_size}" in section
    assert f"momentum {c.optim.momentum:g}, weight decay 5e-4, cosine, {c.optim.epochs} epochs" in section
    assert c.optim.weight_decay == 5e-4 and c.optim.cos
    assert f"K {c.method.moco_k}, m {c.method.moco_m:g}, T {c.method.moco_t:g}" in section
    splits = c.optim.batch_size // c.method.bn_group
    assert f"SplitBatchNorm with {splits} splits" in section
    assert f"k {c.run.knn_k}, t {c.run.knn_t:g}" in section
    mean, std = STATS["cifar10"]
    text = "mean ({}), std ({})".format(*(", ".join(f"{v:.4f}" for v in x) for x in (mean, std)))
    assert text in section  # the dataset's normalisation: data/sources.py
    assert (
        "ColorJitter(0.4, 0.4, 0.4, 0.1) with p 0.8, RandomGrayscale(p 0.2)" in section
        and "no blur" in section
    )

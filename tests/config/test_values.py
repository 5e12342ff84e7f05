"""Every value a recipe, a tier or `--set` gives is checked in one place (`config/fields.py::coerce`) and a
bad one is refused in one line naming the key, the value and what it must be (issue 21)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from mocobench.config.fields import ARCHS, FIELDS, STEMS, BadValue, coerce
from mocobench.config.files import recipes_dir
from mocobench.errors import UsageError
from mocobench.models import encoders
from mocobench.run.config import resolve


def refusal(*sets: str, name: str = "mlp+aug+cos", scale: str = "smoke") -> str:
    with pytest.raises(UsageError) as info:
        resolve(name, scale, list(sets))
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        # the four cases of issue 21
        ("workers=-5", "--set workers=-5: workers must be at least 0, not -5"),
        ("lr=nan", "--set lr=nan: lr must be a finite number, not nan"),
        ("epochs=2.5", "--set epochs=2.5: epochs must be a whole number of epochs, not 2.5"),
        ("image_size=100000", r"--set image_size=100000: image_size must be in \[8, 1024\], not 100000"),
        # a sample of the others
        ("lr=inf", "lr must be a finite number, not inf"),
        ("lr=0", "lr must be positive, not 0"),
        ("lr=fast", "lr must be a number, not 'fast'"),
        ("epochs=0", "epochs must be at least 1, not 0"),
        ("epochs=true", "epochs must be a whole number of epochs, not 'true'"),
        ("batch_size=0", "batch_size must be at least 1, not 0"),
        ("weight_decay=-1e-4", "weight_decay must be at least 0, not -1e-4"),
        ("momentum=1", r"momentum must be in \[0, 1\), not 1"),
        ("moco_m=1.5", r"moco_m must be in \[0, 1\), not 1.5"),
        ("moco_t=0", "moco_t must be positive, not 0"),
        ("moco_k_fraction=2", r"moco_k_fraction must be in \[0, 1\], not 2"),
        ("knn_k=0", "knn_k must be at least 1, not 0"),
        ("knn_t=-1", "knn_t must be positive, not -1"),
        ("warmup_epochs=-1", "warmup_epochs must be at least 0, not -1"),
        ("image_size=4", r"image_size must be in \[8, 1024\], not 4"),
        (
            "blur_sigma=2.0,0.1",
            "blur_sigma must be two sigmas lo,hi in pixels with 0 <= lo <= hi.*not 2.0,0.1",
        ),
        ("blur_sigma=-1,2", "blur_sigma must be two sigmas"),
        ("blur_sigma=0.1", "blur_sigma must be two sigmas"),
        ("mean=0.5,0.5", r"mean must be empty or three values in \[0, 1\] \(RGB\).*not 0.5,0.5"),
        ("mean=123.7,116.3,103.5", r"mean must be empty or three values in \[0, 1\]"),
        ("std=0.2,0,0.2", r"std must be empty or three values in \(0, 1\]"),
        ("schedule=3,nan", "schedule must be increasing whole epochs like 120,160"),
        ("schedule=4,3", "schedule must be increasing whole epochs"),
        ("schedule=-1", "schedule must be increasing whole epochs"),
        ("arch=resnet19", "arch must be one of resnet18, .*, not 'resnet19'"),
        ("knn_on=logits", "knn_on must be one of backbone, output, not 'logits'"),
        ("aug_plus=maybe", "--set aug_plus=maybe: aug_plus takes true or false, not 'maybe'"),
        # texts other tests match, kept
        ("cos=maybe", "cos takes true or false"),
        ("init=kaiming", "init must be one of torchvision, simclr, not 'kaiming'"),
        ("stem=tiny", "stem must be one of imagenet, cifar"),
    ],
)
def test_a_bad_set_value_is_refused_in_one_line(pair: str, message: str):
    assert re.search(message, refusal(pair))


def test_an_int_takes_a_whole_float_and_a_list_takes_its_text():
    c = resolve(
        "mlp+aug+cos", "smoke", ["epochs=2.0", "blur_sigma=0,1", "mean=0.5,0.5,0.5", "std=[0.2,0.2,0.2]"]
    )
    assert c.optim.epochs == 2 and isinstance(c.optim.epochs, int)
    assert c.data.blur_sigma == (0.0, 1.0) and c.data.mean == (0.5,) * 3 and c.data.std == (0.2,) * 3
    assert resolve("mlp+aug+cos", "smoke", ["schedule=", "workers=0", "lr=1e-3"]).optim.schedule == ()


def test_toml_values_are_checked_as_set_values_are():
    assert coerce("epochs", 2.0) == 2
    for key, value in [("epochs", 2.5), ("epochs", True), ("lr", float("nan")), ("lr", True), ("mlp", 1.5)]:
        with pytest.raises(BadValue):
            coerce(key, value)
    with pytest.raises(BadValue, match=r"blur_sigma must be .*, not \[0.1, 'x'\]"):
        coerce("blur_sigma", [0.1, "x"])
    with pytest.raises(BadValue, match="arch must be one of"):
        coerce("arch", 50)


def test_every_default_is_a_value_its_field_takes():
    for key, spec in FIELDS.items():
        assert coerce(key, spec.default) == spec.default, key
        assert spec.type is type(spec.default), key
        assert FIELDS[key][1] == spec.default  # FIELDS[key][1] still reads the default (train/pretrain.py)


def test_every_arch_and_stem_choice_builds():
    """fields.py's archs and stems are what models/encoders.py builds (it imports them from config)."""
    for arch in ARCHS:
        for stem in STEMS:
            with torch.device("meta"):
                net = encoders.encoder_builder(arch, 1, stem)(num_classes=8)
            assert net.fc.out_features == 8


def test_checks_between_fields():
    assert "warmup_epochs must be below epochs (2), not 5" in refusal("warmup_epochs=5")
    assert "mean [0.5, 0.5, 0.5] and std [] are set together" in refusal("mean=0.5,0.5,0.5")
    assert "linear_protocol 'nope' is not a protocol file" in refusal("linear_protocol=nope")


def copied_recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "recipes"
    shutil.copytree(recipes_dir(), folder)
    monkeypatch.setenv("MOCOBENCH_RECIPES", str(folder))
    return folder


def test_a_recipe_value_is_refused_naming_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = copied_recipes(tmp_path, monkeypatch) / "moco-v1.toml"
    path.write_text(path.read_text().replace("epochs = 200", "epochs = 2.5", 1))
    message = refusal(name="moco-v1", scale="paper")
    assert f"{path}: epochs must be a whole number of epochs, not 2.5" in message


def test_a_tier_value_is_refused_naming_its_tier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    scales = copied_recipes(tmp_path, monkeypatch) / "scales.toml"
    scales.write_text(scales.read_text().replace("workers = 0\n", "workers = -5\n", 1))
    message = refusal(name="moco-v1", scale="smoke")
    assert f"{scales} [smoke]: workers must be at least 0, not -5" in message


def test_the_cli_refuses_a_bad_value_with_exit_2_and_one_line(cli):
    code, out, err = cli("recipes", "show", "mlp+aug+cos", "--scale", "smoke", "--set", "workers=-5")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: --set workers=-5: workers must be at least 0, not -5 (data loader processes; 0 loads in the "
        "main process)"
    ]
    code, _, err = cli("recipes", "show", "mlp+aug+cos", "--scale", "smoke", "--set", "lr=nan")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "lr must be a finite number" in err

"""The command line: help everywhere, listings, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["recipes"],
        ["recipes", "show"],
        ["pretrain"],
        ["data"],
        ["data", "synth"],
        ["data", "path"],
        ["linear"],
        ["table"],
        ["reproduce"],
        ["reproduce", "table"],
        ["export"],
        ["export", "detectron2"],
    ],
)
def test_every_command_has_help(command, cli):
    code, out, _ = cli(*command, "--help")
    assert code == 0 and "Usage" in out


def test_recipes_lists_every_row(cli):
    code, out, _ = cli("recipes")
    assert code == 0
    for name in (
        "moco-v1",
        "mlp-t0.07",
        "mlp+aug+cos+800ep",
        "supervised",
        "simclr-b8192",
        "end-to-end-b4096",
    ):
        assert name in out


def test_recipes_show_json(cli):
    code, out, _ = cli("recipes", "show", "mlp+aug+cos", "--scale", "cpu", "--set", "lr=0.1", "--json")
    shown = json.loads(out)
    config, facts = shown["config"], shown["facts"]
    assert code == 0 and config["lr"] == 0.1 and config["scale"] == "cpu" and config["aug_plus"] is True
    # the tier's facts as numbers, as the table of `recipes show` prints them in words
    assert (facts["training_images"], facts["steps_per_epoch"], facts["images_dropped_per_epoch"]) == (
        8000,
        62,
        64,
    )
    assert (facts["moco_k"], facts["k_over_n"], facts["bn_group"], facts["bn_groups"]) == (1024, 0.128, 16, 8)
    assert facts["blur_sigma_px"] == pytest.approx([0.1 * 32 / 224, 2.0 * 32 / 224])
    assert facts["refused"] is False and facts["refusal"] is None
    code, out, _ = cli("recipes", "show", "simclr-b8192", "--scale", "cpu", "--json")
    facts = json.loads(out)["facts"]
    assert code == 0 and facts["refused"] is True and "takes 1 step an epoch" in facts["refusal"]
    assert facts["global_bn"] is True and "moco_k" not in facts


def test_recipes_show_prints_the_tiers_facts_and_the_old_name_still_works(cli):
    code, out, err = cli("recipes", "show", "simclr-b8192", "--scale", "mini")
    assert code == 0 and "--scale mini is now called cpu" in err
    flat = " ".join(out.split())
    assert "what --scale cpu makes of simclr-b8192 on the embedded set" in flat
    assert "refused: simclr-b8192 pre-training at --scale cpu" in flat and "3,904 (48.8%" in flat
    code, out, _ = cli("recipes", "show", "mlp+aug+cos", "--scale", "gpu", "--json")
    assert code == 0 and json.loads(out)["config"]["moco_k"] == 2560  # fitted to the 50,000 embedded images
    code, _, err = cli("pretrain", "--recipe", "simclr-b8192", "--scale", "cpu")
    _one_line_error(code, err, "takes 1 step an epoch over 8,000 images")


def _one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for needle in needles:
        assert needle in lines[0]


def test_unknown_recipe(cli):
    _one_line_error(*cli("pretrain", "--recipe", "mocov1")[::2], "unknown recipe", "moco-v1")


def test_unknown_set_key(cli):
    code, _, err = cli("recipes", "show", "moco-v1", "--set", "temperature=0.2")
    _one_line_error(code, err, "unknown --set key 'temperature'")


SMOKE = ("pretrain", "--recipe", "moco-v1", "--scale", "smoke", "--data")


def test_missing_and_empty_data(tmp_path: Path, cli):
    _one_line_error(*cli(*SMOKE, str(tmp_path / "x"))[::2], "is not a folder")
    (tmp_path / "empty" / "train" / "a").mkdir(parents=True)
    _one_line_error(*cli(*SMOKE, str(tmp_path / "empty"))[::2], "holds no images")


def test_unreadable_image(tmp_path: Path, cli):
    for split in ("train", "val"):
        for name in ("a", "b"):  # two classes: one is refused on its own
            (tmp_path / "d" / split / name).mkdir(parents=True)
            (tmp_path / "d" / split / name / "x.png").write_bytes(b"broken")
    out = tmp_path / "run"
    code, _, err = cli(*SMOKE, str(tmp_path / "d"), "--out", str(out))
    _one_line_error(code, err, "unreadable image", "x.png")
    assert not out.exists()


def test_pretrain_smoke_via_cli(tiny_data: Path, tmp_path: Path, cli):
    out = tmp_path / "run"
    sets = ["--set", "batch_size=8", "--set", "image_size=16", "--set", "epochs=1"]
    code, stdout, _ = cli(*SMOKE, str(tiny_data), "--out", str(out), *sets)
    assert code == 0 and "done" in stdout and str(out) in stdout.replace("\n", "")
    assert (out / "summary.json").is_file()


@pytest.mark.parametrize(
    "pipeline",
    [
        ["--loader", "ffcv", "--augment-on", "device", "--step-options", "channels_last"],
        ["--loader", "pil"],
    ],
)
def test_pretrain_with_each_input_pipeline_records_it(tiny_data: Path, tmp_path: Path, cli, pipeline):
    if "ffcv" in pipeline:
        pytest.importorskip("ffcv")
    out = tmp_path / "run"
    sets = ["--set", "batch_size=8", "--set", "image_size=16", "--set", "epochs=1"]
    code, _, _ = cli(*SMOKE, str(tiny_data), "--out", str(out), *sets, *pipeline)
    assert code == 0 and (out / "summary.json").is_file()
    config = json.loads((out / "config.json").read_text())
    kind = pipeline[1]
    assert config["pipeline"]["loader"] == kind
    assert config["pipeline"]["augment_on"] == ("device" if kind == "ffcv" else "loader")
    assert config["step_options"] == ("channels_last" if kind == "ffcv" else "fp32")
    if kind == "ffcv":  # the .beton was written once into the cache, beside its sidecar
        assert config["pipeline"]["beton"].endswith(".beton") and Path(config["pipeline"]["beton"]).is_file()


def test_data_synth_writes_a_folder(tmp_path: Path, cli):
    code, _, _ = cli(
        "data",
        "synth",
        "--out",
        str(tmp_path / "s"),
        "--train-per-class",
        "1",
        "--val-per-class",
        "1",
        "--image-size",
        "32",
    )
    assert code == 0 and len(list((tmp_path / "s" / "train").glob("*/*.png"))) == 10


def test_table_from_an_empty_store_is_all_dashes_and_says_partial(tmp_path: Path, cli):
    code, out, _ = cli("table", "2", "--scale", "cpu", "--out", str(tmp_path / "t"))
    assert code == 0 and "table2_cpu.md" in out
    md = (tmp_path / "t" / "table2_cpu.md").read_text()
    assert "Partial table" in md and "67.5" in md and "not comparable in absolute value" in md
    csv = (tmp_path / "t" / "table2_cpu.csv").read_text().splitlines()
    assert len(csv) == 7  # header + the paper's 6 rows
    assert (tmp_path / "t" / "table2_cpu.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "args, message",
    [
        (["table", "3"], "run `mocobench profile` first"),
        (["table", "7"], "no table 7"),
        (["table", "1", "--scale", "huge"], "unknown scale"),
        (["reproduce", "table", "1", "--recipes", "nope", "--dry-run"], "not in table 1"),
        (["reproduce", "table", "3", "--dry-run"], "reproduce covers tables 1 and 2"),
    ],
)
def test_table_and_reproduce_bad_input(args, message, tmp_path: Path, cli):
    code, _, err = cli(*args, "--out", str(tmp_path / "t"))
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "t").exists()


def test_pipeline_official_is_the_official_codes_and_is_recorded(tiny_data: Path, tmp_path: Path, cli):
    out = tmp_path / "run"
    sets = ["--set", "batch_size=8", "--set", "image_size=16", "--set", "epochs=1"]
    code, _, _ = cli(*SMOKE, str(tiny_data), "--out", str(out), *sets, "--pipeline", "official")
    assert code == 0
    pipeline = json.loads((out / "config.json").read_text())["pipeline"]
    assert (
        pipeline["name"] == "official" and pipeline["loader"] == "pil" and pipeline["augment_on"] == "loader"
    )
    assert pipeline["precision"] == "fp32" and not pipeline["compile"] and not pipeline["channels_last"]
    assert pipeline["stored"] == "the folder's image files"
    code, _, err = cli(
        *SMOKE, str(tiny_data), "--out", str(tmp_path / "x"), "--pipeline", "official", "--loader", "torch"
    )
    assert code == 2 and "--pipeline official fixes --loader pil" in err and not (tmp_path / "x").exists()
    code, _, err = cli(*SMOKE, str(tiny_data), "--out", str(tmp_path / "x"), "--pipeline", "turbo")
    assert code == 2 and "unknown --pipeline 'turbo'" in err

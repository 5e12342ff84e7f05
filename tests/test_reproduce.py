"""`reproduce`: the plan marks each step by its outputs, runs only what is missing, and resumes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mocobench import reproduce
from mocobench.cli import app
from mocobench.config.scales import voc_trials
from mocobench.errors import UsageError


def _fake_run(run: Path, epochs_done: int, finished: bool, linear_scale: str | None = None, speed: float = 0):
    run.mkdir(parents=True)
    (run / "checkpoint_last.pth.tar").write_bytes(b"x")
    recipe, scale = run.parts[-2], run.parts[-3]
    config = {
        "recipe": recipe,
        "scale": scale,
        "seed": 0,
        "arch": "resnet18",
        "image_size": 32,
        "mechanism": "moco",
        "epochs": 20,
        "batch_size": 128,
    }
    (run / "config.json").write_text(json.dumps(config))
    (run / "env.json").write_text(json.dumps({"device_type": "cpu", "device": "CPU"}))
    lines = [
        {"epoch": e, "loss": 1.0, "images_per_s": speed, "epoch_seconds": 1.0}
        for e in range(1, epochs_done + 1)
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    if finished:
        (run / "summary.json").write_text(json.dumps({"finished": True}))
    if linear_scale:
        trials = [{"trial": 0, "seed": 0, "top1": 30.0, "top5": 80.0, "seconds": 120.0}]
        (run / "linear.json").write_text(json.dumps({"scale": linear_scale, "trials": trials}))


def test_plan_marks_done_resume_and_run(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(reproduce.torch.cuda, "is_available", lambda: False)
    _fake_run(tmp_path / "cpu" / "mlp+aug+cos" / "seed0", 20, True, "cpu", speed=50.0)
    _fake_run(tmp_path / "cpu" / "moco-v1" / "seed0", 7, False)
    _fake_run(tmp_path / "cpu" / "mlp" / "seed0", 20, True, linear_scale="smoke")  # linear of another scale
    steps = reproduce.plan(1, "cpu", 1, tmp_path)
    by = {(s.recipe, s.kind): s for s in steps}
    assert [s.recipe for s in steps if s.kind == "pretrain"] == [
        "supervised",
        "moco-v1",
        "mlp",
        "mlp-t0.07",
        "aug",
        "mlp+aug",
        "mlp+aug+cos",
        "mlp+aug+cos+800ep",
    ]
    assert by["mlp+aug+cos", "pretrain"].state == "done" and by["mlp+aug+cos", "linear"].state == "done"
    assert (
        by["moco-v1", "pretrain"].state == "resume"
        and by["moco-v1", "pretrain"].detail == "epoch 7 of 20 done"
    )
    assert by["mlp", "pretrain"].state == "done" and by["mlp", "linear"].state == "run"
    assert by["aug", "pretrain"].state == "run"
    # Estimates from the measured 50 pairs/s of the comparable (resnet18, 32 px, moco, cpu) run:
    # 13 epochs x 62 steps x 128 pairs / 50 for the resumed run; the linear from its measured 120 s.
    assert by["moco-v1", "pretrain"].estimate_s == pytest.approx(13 * (8000 // 128) * 128 / 50)
    assert by["aug", "linear"].estimate_s == 120.0
    assert by["supervised", "pretrain"].estimate_s is None  # no supervised run measured yet
    assert reproduce.format_seconds(None).startswith("unknown")


def test_table_1_rows_with_paper_voc_figures_get_a_detection_step(tmp_path: Path):
    run = tmp_path / "cpu" / "mlp+aug+cos" / "seed0"
    _fake_run(run, 20, True, "cpu", speed=50.0)
    trials = [{"trial": 0, "seed": 0, "AP": 1.0, "AP50": 2.0, "AP75": 0.5, "seconds": 900.0}]
    (run / "voc.json").write_text(json.dumps({"scale": "cpu", "trials": trials}))
    _fake_run(tmp_path / "cpu" / "mlp" / "seed0", 20, True, "cpu")
    (tmp_path / "cpu" / "mlp" / "seed0" / "voc.json").write_text(
        json.dumps({"scale": "smoke", "trials": trials})
    )
    by = {(s.recipe, s.kind): s for s in reproduce.plan(1, "cpu", 1, tmp_path)}
    assert by["mlp+aug+cos", "voc"].state == "done"
    assert by["mlp", "voc"].state == "run"  # a VOC result of another scale does not count
    assert by["aug", "voc"].estimate_s == 900.0  # from the measured detection run
    assert ("mlp-t0.07", "voc") not in by  # the paper gives no VOC figures for T=0.07
    assert not [s for s in reproduce.plan(1, "cpu", 1, tmp_path, detection=False) if s.kind == "voc"]
    assert not [s for s in reproduce.plan(2, "cpu", 1, tmp_path) if s.kind == "voc"]  # Table 2: linear only


MOCO = "/work/.mirror/facebookresearch+moco/repo"
# facebookresearch/moco detection/README.md:61@7397dfe, the source of the paper tier's 5 VOC trials a model.
README_LINE_61 = "***Note:*** These results are means of 5 trials."


def _voc_steps(steps: list[reproduce.Step], recipe: str) -> list[tuple[int, int, str]]:
    return [(s.seed, s.trial, s.state) for s in steps if s.kind == "voc" and s.recipe == recipe]


def test_voc_trials_per_model_follow_the_tier_and_the_override(tmp_path: Path):
    """Paper scale plans 5 VOC fine-tunes of each pre-trained model, as the paper's VOC figures are means of
    5 trials (facebookresearch/moco detection/README.md:61@7397dfe); the smaller tiers plan 1."""
    assert voc_trials("paper") == 5 and README_LINE_61.split("means of ")[1].startswith("5 trials")
    assert (voc_trials("cpu"), voc_trials("smoke"), voc_trials("gpu"), voc_trials("mini")) == (1, 1, 1, 1)
    steps = reproduce.plan(1, "paper", 2, tmp_path, only=["mlp+aug+cos"])
    assert _voc_steps(steps, "mlp+aug+cos") == [(seed, t, "run") for seed in (0, 1) for t in range(5)]
    # Each seed's model, its linear evaluation, then its VOC trials.
    assert [s.kind for s in steps[:7]] == ["pretrain", "linear", "voc", "voc", "voc", "voc", "voc"]
    cpu = reproduce.plan(1, "cpu", 1, tmp_path, voc_trials=3)
    assert _voc_steps(cpu, "moco-v1") == [(0, 0, "run"), (0, 1, "run"), (0, 2, "run")]
    assert _voc_steps(reproduce.plan(1, "cpu", 1, tmp_path), "moco-v1") == [(0, 0, "run")]
    assert not _voc_steps(cpu, "mlp-t0.07")  # no VOC figures in the paper
    gpu = reproduce.plan(1, "gpu", 2, tmp_path, voc_trials=5)  # CIFAR-stem encoders: one refusal a model
    assert _voc_steps(gpu, "moco-v1") == [(0, 0, "refused"), (1, 0, "refused")]
    with pytest.raises(UsageError, match="--voc-trials must be at least 1, not 0"):
        reproduce.plan(1, "cpu", 1, tmp_path, voc_trials=0)


@pytest.mark.parametrize("bad", ["0", "2.5", '"5"'])
def test_a_bad_voc_trials_in_scales_toml_is_one_line(bad: str, tmp_path: Path, monkeypatch):
    import shutil

    from mocobench.config.files import recipes_dir

    folder = tmp_path / "recipes"
    shutil.copytree(recipes_dir(), folder)
    text = (folder / "scales.toml").read_text()
    (folder / "scales.toml").write_text(text.replace("voc_trials = 5 ", f"voc_trials = {bad} ", 1))
    monkeypatch.setenv("MOCOBENCH_RECIPES", str(folder))
    with pytest.raises(UsageError, match=r"scales.toml \[paper\] voc_trials = .*; set a whole number >= 1"):
        reproduce.plan(1, "paper", 1, tmp_path / "runs")


@pytest.mark.skipif(not Path(MOCO).is_dir(), reason="no local mirror of facebookresearch/moco")
def test_the_cited_line_says_means_of_5_trials():
    import subprocess

    text = subprocess.run(
        ["git", "-C", MOCO, "show", "7397dfe:detection/README.md"], capture_output=True, text=True, check=True
    ).stdout
    assert text.splitlines()[60].startswith(README_LINE_61)


def test_a_partial_voc_json_resumes_only_its_missing_trials(tmp_path: Path, monkeypatch):
    from mocobench.detection import finetune

    run = tmp_path / "cpu" / "mlp+aug+cos" / "seed0"
    _fake_run(run, 20, True, "cpu")
    trials = [
        {"trial": t, "seed": t, "AP": 1.0, "AP50": 2.0, "AP75": 0.5, "seconds": 600.0 + 600 * t}
        for t in (0, 2)
    ]
    (run / "voc.json").write_text(json.dumps({"scale": "cpu", "trials": trials}))
    steps = reproduce.plan(1, "cpu", 1, tmp_path, only=["mlp+aug+cos"], voc_trials=4)
    assert _voc_steps(steps, "mlp+aug+cos") == [(0, 0, "done"), (0, 1, "run"), (0, 2, "done"), (0, 3, "run")]
    assert [s.estimate_s for s in steps if s.kind == "voc" and s.state == "run"] == [1200.0, 1200.0]
    assert steps[3].detail == "VOC fine-tune at cpu, trial 1 (trials 0-3)"
    calls = []
    monkeypatch.setattr(finetune, "detect_voc", lambda source, data, scale, **kw: calls.append((source, kw)))
    reproduce.run_plan(steps, "cpu", show_progress=False)
    assert [(source, kw["trials"]) for source, kw in calls] == [(run, 2), (run, 4)]  # trials 1 and 3 only
    table = reproduce.plan_table(steps, 1, "cpu")
    assert "2 of 6 steps to run" in str(table.title)


def test_simclr_rows_wait_for_simclrs_linear_protocol(tmp_path: Path):
    """A SimCLR row's linear step is done only by a linear-simclr.json (its recipe's protocol)."""
    simclr, moco = tmp_path / "gpu" / "simclr-b256" / "seed0", tmp_path / "gpu" / "moco-v1" / "seed0"
    _fake_run(simclr, 20, True, "gpu")  # a linear.json (MoCo's protocol) of the right scale
    _fake_run(moco, 20, True, "gpu")
    by = {(s.recipe, s.kind): s for s in reproduce.plan(2, "gpu", 1, tmp_path)}
    assert (
        by["simclr-b256", "linear"].state == "run"
        and by["simclr-b256", "linear"].detail == "linear-simclr at gpu"
    )
    assert by["simclr-b256", "linear"].estimate_s is None  # no linear-simclr trial measured yet
    assert by["moco-v1", "linear"].state == "done" and by["moco-v1", "linear"].detail == "linear at gpu"
    (simclr / "linear.json").rename(simclr / "linear-simclr.json")
    by = {(s.recipe, s.kind): s for s in reproduce.plan(2, "gpu", 1, tmp_path)}
    assert by["simclr-b256", "linear"].state == "done"


def test_plan_refuses_the_rows_a_tier_makes_meaningless(tmp_path: Path):
    """cpu (8,000 embedded images): Table 2's 4096/8192 rows take 1-3 steps an epoch, and linear-simclr's
    batch 2048 three; gpu: Table 1's VOC steps, whose CIFAR-stem encoders Detectron2 cannot take."""
    by = {(s.recipe, s.kind): s for s in reproduce.plan(2, "cpu", 1, tmp_path)}
    assert by["simclr-b8192", "pretrain"].state == "refused" and ("simclr-b8192", "linear") not in by
    assert "takes 1 step an epoch over 8,000 images" in by["simclr-b8192", "pretrain"].detail
    assert by["simclr-b4096-1000ep", "pretrain"].state == "refused"  # 2048: 3 steps
    assert by["simclr-b256", "pretrain"].state == "run" and by["simclr-b256", "linear"].state == "refused"
    assert by["mlp+aug+cos", "linear"].state == "run"
    gpu = {(s.recipe, s.kind): s for s in reproduce.plan(1, "gpu", 1, tmp_path)}
    assert gpu["mlp+aug+cos", "voc"].state == "refused" and "Detectron2" in gpu["mlp+aug+cos", "voc"].detail
    assert all(s.state == "run" for (_, kind), s in gpu.items() if kind != "voc")
    assert "refused" not in {s.state for s in reproduce.plan(2, "gpu", 1, tmp_path)}  # 50,000 images
    assert "refused" not in {s.state for s in reproduce.plan(2, "smoke", 1, tmp_path)}  # a pipeline check


def test_plan_filters_and_refuses_bad_input(tmp_path: Path):
    steps = reproduce.plan(2, "smoke", 2, tmp_path, only=["moco-v1"])
    assert [(s.recipe, s.seed, s.kind) for s in steps] == [
        ("moco-v1", 0, "pretrain"),
        ("moco-v1", 0, "linear"),
        ("moco-v1", 1, "pretrain"),
        ("moco-v1", 1, "linear"),
    ]
    with pytest.raises(UsageError, match="not in table 2"):
        reproduce.plan(2, "smoke", 1, tmp_path, only=["aug"])
    with pytest.raises(UsageError, match="at least 1"):
        reproduce.plan(1, "smoke", 0, tmp_path)
    with pytest.raises(UsageError):
        reproduce.plan(3, "smoke", 1, tmp_path)


def test_dry_run_lists_steps_and_runs_nothing(tmp_path: Path):
    res = CliRunner().invoke(
        app, ["reproduce", "table", "1", "--scale", "cpu", "--dry-run", "--runs", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert "23 of 23 steps to run" in res.output and "mlp+aug+cos+800ep" in res.output
    assert list(tmp_path.iterdir()) == []


def test_seeds_and_voc_trials_options_and_the_old_trials_name(tmp_path: Path, cli):
    def dry(*opts: str) -> tuple[int, str, str]:
        return cli("reproduce", "table", "1", "--scale", "cpu", "--dry-run", "--runs", str(tmp_path), *opts)

    code, out, err = dry("--voc-trials", "3", "--recipes", "moco-v1,mlp-t0.07")
    assert code == 0, err
    assert "7 of 7 steps to run" in out  # 2 models + 2 linear + 3 VOC trials of moco-v1's model
    code, out, _ = dry("--seeds", "2", "--recipes", "moco-v1")
    assert code == 0 and "6 of 6 steps to run" in out  # 2 seeds x (model, linear, 1 VOC trial)
    code, out, err = dry("--trials", "2", "--recipes", "moco-v1")  # its name before --voc-trials: the seeds
    assert code == 0 and "6 of 6 steps to run" in out  # 2 seeds x (model, linear, 1 VOC trial)
    assert "reproduce --trials is now --seeds" in " ".join(err.split())
    code, _, err = dry("--trials", "2", "--seeds", "3")
    assert code == 2 and "drop --trials" in err and err.count("\n") == 1
    code, _, err = dry("--voc-trials", "0")
    assert code == 2 and "--voc-trials must be at least 1" in err
    assert list(tmp_path.iterdir()) == []


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reproduce_end_to_end_resumes_after_an_interrupt(tiny_data: Path, tmp_path: Path, monkeypatch):
    from mocobench.evaluate import linear

    runs, tables = tmp_path / "runs", tmp_path / "tables"
    args = [
        "reproduce",
        "table",
        "2",
        "--scale",
        "smoke",
        "--recipes",
        "moco-v1",
        "--data",
        str(tiny_data),
        "--runs",
        str(runs),
        "--out",
        str(tables),
    ]
    real = linear.evaluate_pretrained

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(linear, "evaluate_pretrained", interrupted)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 130  # click turns the KeyboardInterrupt into an abort
    run = runs / "smoke" / "moco-v1" / "seed0"
    assert (run / "summary.json").is_file() and not (run / "linear.json").exists()
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    before = _digest(run / "checkpoint_last.pth.tar")
    monkeypatch.setattr(linear, "evaluate_pretrained", real)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert _digest(run / "checkpoint_last.pth.tar") == before  # pre-training was not repeated
    assert json.loads((run / "linear.json").read_text())["scale"] == "smoke"
    csv = (tables / "table2_smoke.csv").read_text()
    assert "moco-v1" in csv and (tables / "table2_smoke.md").is_file()
    steps = reproduce.plan(2, "smoke", 1, runs, tiny_data, ["moco-v1"])
    assert all(s.state == "done" for s in steps)


@pytest.mark.parametrize("content", ["{", '{"scale": "cpu", "trials": 3}', '{"trials": [{"trial": "0"}]}'])
def test_a_damaged_result_file_is_one_line_not_a_traceback(tmp_path: Path, content: str):
    run = tmp_path / "cpu" / "mlp+aug+cos" / "seed0"
    _fake_run(run, 20, True, "cpu")
    (run / "voc.json").write_text(content)
    with pytest.raises(UsageError, match=r"voc\.json is not a valid voc result file"):
        reproduce.plan(1, "cpu", 1, tmp_path, only=["mlp+aug+cos"])

"""Table 3 profiling: the arithmetic (lines, 200-epoch hours, ratios, estimates) and one real tiny run."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from mocobench.bench import profile as prof
from mocobench.cli import app
from mocobench.errors import UsageError
from mocobench.tables.table3 import DAGGER, build_table3, markdown, read_profile


def test_fit_line_recovers_a_line_and_needs_two_batches() -> None:
    line = prof.fit_line([8, 16, 32], [100 + 3 * 8, 100 + 3 * 16, 100 + 3 * 32])
    assert line.intercept == pytest.approx(100) and line.slope == pytest.approx(3)
    assert line(512) == pytest.approx(100 + 3 * 512)
    with pytest.raises(ValueError):
        prof.fit_line([8, 8], [1, 2])


def test_hours_for_200_epochs_matches_the_papers_throughput() -> None:
    # PAPER.md: 53 hours for 200 epochs is about 1,340 image pairs/s at batch 256.
    iterations = 200 * (1_281_167 // 256)
    seconds_per_iteration = 53 * 3600 / iterations
    assert 256 / seconds_per_iteration == pytest.approx(1340, rel=0.01)
    assert prof.hours_for_epochs(seconds_per_iteration, 256) == pytest.approx(53)


def fake_measurement(mem: dict[str, tuple[float, float]]):
    """profile_config stand-in: memory and time exactly linear in the per-GPU batch, per mechanism."""
    calls = []

    def run(config, per_gpu_batch, device, options, steps, warmup):
        a, b = mem[config.method.mechanism]
        calls.append((config.method.mechanism, per_gpu_batch))
        return {
            "per_gpu_batch": per_gpu_batch,
            "peak_bytes": a + b * per_gpu_batch,
            "memory_kind": "peak allocated (CUDA)",
            "baseline_rss_bytes": 0,
            "seconds_per_iteration": 0.01 * per_gpu_batch,
            "loss": 1.0,
        }

    return run, calls


def test_configurations_that_do_not_fit_are_estimated_from_the_line(monkeypatch) -> None:
    gib = 2**30
    run, calls = fake_measurement({"moco": (1 * gib, 0.1 * gib), "end-to-end": (1 * gib, 0.2 * gib)})
    monkeypatch.setattr(prof, "profile_config", run)
    monkeypatch.setattr(prof, "device_memory_bytes", lambda device: 80 * gib)
    record = prof.profile(torch.device("cpu"), prof.StepOptions(), "resnet18", 32, 1, 0, (8, 16), log=str)
    by = {(r["mechanism"], r["global_batch"]): r for r in record["rows"]}
    # MoCo at 512 per GPU: 1 + 51.2 = 52.2 GiB < 85% of 80 -> run; end-to-end: 103.4 GiB -> estimated.
    assert ("moco", 512) in calls and ("end-to-end", 512) not in calls
    assert by[("moco", 4096)]["estimated"] is False
    e2e = by[("end-to-end", 4096)]
    assert e2e["estimated"] is True
    assert e2e["peak_bytes"] == pytest.approx(1 * gib + 0.2 * gib * 512)
    assert e2e["seconds_per_iteration"] == pytest.approx(0.01 * 512)
    assert e2e["hours_200ep"] == pytest.approx(prof.hours_for_epochs(0.01 * 512, 4096))
    ratios = prof.ratios(record)
    assert ratios["memory"] == pytest.approx((1 + 0.1 * 32) / (1 + 0.2 * 32))
    assert ratios["time"] == pytest.approx(1.0)

    table = build_table3(record)
    md = markdown(table)
    assert f"103.4{DAGGER}" in md  # ours, estimated
    assert f"93.0{DAGGER}" in md  # the paper's own estimate
    assert "| memory | 0.68 |" in md and "| time | 0.82 |" in md  # paper ratios 5.0/7.4, 53/65
    assert table.frame.attrs["ratios"]["ours_memory"] == pytest.approx(ratios["memory"])


def test_read_profile_errors(tmp_path) -> None:
    with pytest.raises(UsageError, match="mocobench profile"):
        read_profile(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(UsageError, match="not a mocobench profile"):
        read_profile(bad)


@pytest.mark.slow
def test_profile_cli_end_to_end_on_cpu(tmp_path) -> None:
    """A real (tiny) profile: each configuration in its own process, peak RSS, table 3 written."""
    result = CliRunner().invoke(
        app,
        [
            "profile", "--arch", "resnet18", "--image-size", "16", "--steps", "1", "--warmup", "0",
            "--fit-batches", "2,4", "--runs", str(tmp_path / "runs"), "--tables", str(tmp_path / "tables"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "runs/profile/table3.json").read_text())
    assert record["memory_kind"] == "peak RSS (CPU process)"
    assert [(r["mechanism"], r["global_batch"]) for r in record["rows"]] == [
        (m, b) for m, _, b in prof.table3_configs()
    ]
    for row in record["rows"]:
        assert row["seconds_per_iteration"] > 0 and row["peak_bytes"] > 0
        assert math.isfinite(row["hours_200ep"])
    points = record["lines"]["moco"]["points"]
    assert all(p["peak_bytes"] > p["baseline_rss_bytes"] > 0 for p in points)
    md = (tmp_path / "tables/table3_resnet18_16px.md").read_text()
    assert "peak RSS (CPU process)" in md and "| MoCo | 256 | 32 |" in md
    csv = (tmp_path / "tables/table3_resnet18_16px.csv").read_text()
    assert "ratio_ours_memory_256" in csv


def test_table3_cli_needs_a_profile(tmp_path, cli) -> None:
    code, _, err = cli("table", "3", "--runs", str(tmp_path), "--out", str(tmp_path / "tables"))
    assert code == 2 and "run `mocobench profile` first" in err
    assert not (tmp_path / "tables").exists()
    code, _, err = cli("profile", "--fit-batches", "8,x")
    assert code == 2 and "--fit-batches" in err


def test_table3_configurations_come_from_the_paper_and_the_recipes():
    # Each mechanism at each of Table 3's batches; MoCo at 4096 (not in the paper) with MoCo's recipe.
    assert prof.table3_configs() == [
        ("moco", "mlp+aug+cos", 256),
        ("end-to-end", "end-to-end-b256", 256),
        ("moco", "mlp+aug+cos", 4096),
        ("end-to-end", "end-to-end-b4096", 4096),
    ]


@pytest.mark.parametrize("recipe", ["end-to-end-b256", "end-to-end-b4096", "mlp+aug+cos"])
def test_one_gpu_of_table3_is_mocos_form_with_its_own_bn_group(recipe):
    """Each configuration runs as one of the paper's GPUs: MoCo's end-to-end (not NT-Xent), its BatchNorm
    one group over the GPU's share of the batch (shuffle BN's per-GPU statistics), as MoCo's."""
    from torch import nn

    from mocobench.config.recipes import resolve
    from mocobench.models.batchnorm import GlobalBatchNorm, SplitBatchNorm2d
    from mocobench.models.end_to_end import EndToEnd
    from mocobench.models.moco import MoCo
    from mocobench.run.build import build_model

    config = prof.per_gpu_config(resolve(recipe, "paper", ["arch=resnet18", "image_size=32"]), 8)
    assert (config.optim.batch_size, config.method.bn_group) == (8, 8)
    model = build_model(config, 10, 1)
    assert isinstance(model, EndToEnd if config.method.mechanism == "end-to-end" else MoCo)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert bns and not [m for m in bns if isinstance(m, SplitBatchNorm2d | GlobalBatchNorm)]
    if isinstance(model, EndToEnd):
        logits, labels = model(torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32))
        assert logits.shape == (8, 8) and labels.tolist() == list(range(8))

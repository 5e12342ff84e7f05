"""`mocobench bench loader`, `bench step` and `data to-ffcv` from the command line, on tiny inputs."""

from __future__ import annotations

import json

import pytest

from mocobench.bench.images import BenchImagesSpec, bench_images


@pytest.mark.slow
def test_bench_loader_times_the_reference_and_ours_on_the_same_images(tmp_path, cli) -> None:
    pytest.importorskip("ffcv")
    data = bench_images(BenchImagesSpec(images=24, width=64, height=48))
    assert len(list((data / "train").rglob("*.jpg"))) == 24
    code, out, _ = cli(
        "bench", "loader", "--data", str(data), "--batch", "8", "--batches", "2", "--warmup", "1",
        "--workers", "1", "--image-size", "32", "--json", str(tmp_path / "loader.json"),
    )  # fmt: skip
    assert code == 0
    record = json.loads((tmp_path / "loader.json").read_text())
    assert set(record["loaders"]) == {"pil", "torch", "ffcv"}
    assert record["loaders"]["pil"]["ratio_to_reference"] == pytest.approx(1.0)
    for r in record["loaders"].values():
        assert r["pairs"] == 16 and r["pairs_per_s"] > 0
    assert "x reference" in out and "pil" in out


def test_bench_loader_bad_input(cli, tiny_data) -> None:
    code, _, err = cli("bench", "loader", "--data", str(tiny_data), "--loaders", "pil,dali")
    assert code == 2 and "unknown loader 'dali'" in err
    code, _, err = cli("bench", "loader", "--data", str(tiny_data), "--batch", "1000", "--loaders", "pil")
    assert code == 2 and "fewer than one batch" in err


@pytest.mark.slow
def test_bench_step_synthetic_then_the_real_loader(tmp_path, cli, tiny_data) -> None:
    code, out, _ = cli(
        "bench", "step", "--scale", "smoke", "--set", "image_size=16", "--set", "moco_k=64", "--batch", "8",
        "--steps", "2", "--warmup", "1", "--loader", "torch", "--data", str(tiny_data), "--workers", "0",
        "--json", str(tmp_path / "step.json"),
    )  # fmt: skip
    assert code == 0, out
    record = json.loads((tmp_path / "step.json").read_text())
    assert record["synthetic"]["pairs_per_s"] > 0 and record["loader"]["pairs_per_s"] > 0
    assert record["loader_over_synthetic"] == pytest.approx(
        record["loader"]["pairs_per_s"] / record["synthetic"]["pairs_per_s"]
    )
    assert record["loss_check"]["rel_diff"] == 0.0  # fp32 on the CPU: identical
    assert record["pipeline"]["loader"] == "torch" and "real loader / synthetic" in out
    code, _, err = cli("bench", "step", "--recipe", "supervised", "--scale", "smoke")
    assert code == 2 and "contrastive step" in err


def test_data_to_ffcv_writes_train_and_val(tmp_path, cli, tiny_data) -> None:
    pytest.importorskip("ffcv")
    code, out, _ = cli("data", "to-ffcv", "--data", str(tiny_data), "--out", str(tmp_path / "tiny.beton"))
    assert "wrote" in out
    assert code == 0
    for name, count in (("tiny.beton", 40), ("tiny-val.beton", 20)):
        meta = json.loads((tmp_path / f"{name}.json").read_text())
        assert meta["count"] == count and (tmp_path / name).stat().st_size == meta["bytes"]
    code, _, err = cli("data", "to-ffcv", "--data", str(tiny_data), "--out", str(tmp_path / "x.ffcv"))
    assert code == 2 and "must end in .beton" in err and not (tmp_path / "x.ffcv").exists()

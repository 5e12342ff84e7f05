"""End to end on real images: smoke pre-training and linear evaluation on Debian's Fashion-MNIST.

Debian's `dataset-fashion-mnist` installs the real set (70,000 product photos, MIT) as the published idx
files; `make test` installs it where apt exists. Without it the test skips, except under CI (CI=1, set by
.ci/run), where a missing set fails: CI must exercise a real dataset, not only generated ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

FASHION_MNIST = Path(os.environ.get("MOCOBENCH_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))


@pytest.fixture
def fashion_mnist() -> Path:
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        message = f"no Fashion-MNIST at {FASHION_MNIST} (apt-get install dataset-fashion-mnist)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return FASHION_MNIST


@pytest.mark.slow
def test_pretrain_and_linear_on_real_fashion_mnist(fashion_mnist: Path, cli, tmp_path: Path):
    spec = f"fashion-mnist:{fashion_mnist}"
    run = tmp_path / "run"
    code, out, err = cli(
        "pretrain", "--recipe", "mlp+aug+cos", "--scale", "smoke", "--data", spec, "--out", str(run)
    )
    assert code == 0, out + err
    config = json.loads((run / "config.json").read_text())
    assert config["data"] == spec and config["data_kind"] == "fashion-mnist"
    assert config["mean"] == pytest.approx([0.2860] * 3) and config["std"] == pytest.approx([0.3530] * 3)
    classes = sorted(p.name for p in (Path(config["data_root"]) / "train").iterdir())
    assert len(classes) == 10 and "Ankle_boot" in " ".join(classes).replace(" ", "_")
    knn = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert knn[0]["epoch"] == 0 and 0 <= knn[-1]["knn_top1"] <= 100
    code, out, err = cli("linear", "--pretrained", str(run))  # on the run's own data: the idx test split
    assert code == 0, out + err
    result = json.loads((run / "linear.json").read_text())
    trial = result["trials"][0]
    assert trial["num_classes"] == 10 and trial["epochs"][-1]["val_images"] == 10_000
    assert 0 <= result["top1"] <= 100 and result["stem"] == "imagenet"

"""`bench views`: each loader's views against the official PIL pipeline's, for the same drawn parameters."""

from __future__ import annotations

import json

import pytest

from mocobench.bench import views
from mocobench.bench.images import BenchImagesSpec, bench_images
from mocobench.pipeline.ffcv_beton import ffcv_available


@pytest.fixture(scope="module")
def photos():
    # 640x480: above FFCV's 512-px cap and its raw-size threshold, so the .beton's resize and JPEG count.
    return bench_images(BenchImagesSpec(images=6, width=640, height=480))


def test_our_views_are_the_official_views_within_a_level(photos) -> None:
    r = views.bench_views(photos, images=6, image_size=64)
    paths = r["paths"]
    other = paths["official, another draw"]["view"]["mad"]
    assert other > 20  # what two different views differ by: the scale the figures below are read against
    torch_geom = paths["torch, colour in the workers"]["geometry"]
    assert torch_geom["mad"] < 0.1 and torch_geom["psnr_db"] > 55  # OpenCV decode + torch resize == PIL's
    assert paths["torch, colour on the device"]["geometry"] == torch_geom
    assert paths["torch, colour in the workers"]["view"]["mad"] < 1.5
    assert paths["torch, colour on the device"]["view"]["mad"] < 2.0
    if ffcv_available():
        ffcv = paths["ffcv, colour on the device"]
        assert r["ffcv_capped_images"] == 6  # every 640-px image stored at 512 px
        assert torch_geom["mad"] < ffcv["geometry"]["mad"] < 3  # stored smaller and re-encoded: measurable
        assert ffcv["view"]["mad"] < 3.5
    else:
        assert "ffcv, colour on the device" not in paths


def test_the_comparison_catches_a_wrong_op(photos, monkeypatch) -> None:
    """Swap two jitter ops in the workers' colour: the figure for that path moves far beyond a level."""
    good = views.bench_views(photos, images=6, image_size=64)["paths"]["torch, colour in the workers"]
    swapped = {**views._CPU_JITTER, "brightness": views._CPU_JITTER["saturation"]}
    monkeypatch.setattr(views, "_CPU_JITTER", swapped)
    bad = views.bench_views(photos, images=6, image_size=64)["paths"]["torch, colour in the workers"]
    assert bad["geometry"] == good["geometry"] and bad["view"]["mad"] > 3 * good["view"]["mad"] + 2


def test_cli_prints_and_writes_the_figures(photos, tmp_path, cli) -> None:
    code, out, _ = cli(
        "bench",
        "views",
        "--data",
        str(photos),
        "--images",
        "2",
        "--image-size",
        "32",
        "--json",
        str(tmp_path / "v.json"),
    )
    assert code == 0 and "view PSNR" in out
    record = json.loads((tmp_path / "v.json").read_text())
    assert record["images"] == 2 and record["image_size"] == 32
    assert all(p["view"]["mad"] >= 0 for p in record["paths"].values())
    code, _, err = cli("bench", "views", "--data", str(photos), "--augmentation", "simclr")
    assert code == 2 and err.count("\n") == 1 and "use one of aug_plus, moco_v1" in err

"""`bench views`: each loader's views against the official PIL pipeline's, for the same drawn parameters."""

from __future__ import annotations

import json

import pytest

from mocobench.bench import views
from mocobench.bench.images import BenchImagesSpec, bench_images
from mocobench.loading.ffcv_beton import ffcv_available


@pytest.fixture(scope="module")
def photos():
    # 640x480: above FFCV's 512-px cap and its raw-size threshold, so the .beton's resize and JPEG count.
    # 10 images: one in each class folder (a folder without images is refused, data/folder.py).
    return bench_images(BenchImagesSpec(images=10, width=640, height=480))


def test_our_views_are_the_official_views_within_a_level(photos) -> None:
    r = views.bench_views(photos, images=6, image_size=64)
    assert r["crops_enlarged"] == 0  # crops of 640x480 images at scale >= 0.2 all shrink to 64 px
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


def test_32px_sources_ffcv_views_within_the_torch_bound(tmp_path, cli, monkeypatch) -> None:
    """CIFAR's size (the `gpu` tier, the demo): 32-px sources and views, every crop enlarged. FFCV's
    geometry is held to the torch loader's bound (PIL's own filter); with INTER_AREA it measured
    1.43 levels, 39.2 dB (64 images)."""
    args = ("--source-size", "32", "--image-size", "32", "--images", "24", "--json", str(tmp_path / "v.json"))
    code, out, _ = cli("bench", "views", *args)
    assert code == 0 and "crops enlarged" in out
    r = json.loads((tmp_path / "v.json").read_text())
    assert r["images"] == 24 and r["crops_enlarged"] >= 20  # a crop of the whole image is not enlarged
    paths = r["paths"]
    assert paths["official, another draw"]["view"]["mad"] > 20
    torch_geom = paths["torch, colour in the workers"]["geometry"]
    assert torch_geom["mad"] < 0.1 and torch_geom["psnr_db"] > 55
    if ffcv_available():
        ffcv = paths["ffcv, colour on the device"]
        assert r["ffcv_capped_images"] == 0  # 32 x 32 x 3 bytes: stored raw
        assert ffcv["geometry"]["mad"] < 0.1 and ffcv["geometry"]["psnr_db"] > 55
        assert ffcv["view"]["mad"] < 2.0  # the device colour's bound, as for torch's views above
        # The bound catches FFCV's stock resize (libffcv's INTER_AREA) on these crops.
        from ffcv.libffcv import resize_crop

        from mocobench.loading.ffcv_kernels import kernels

        def inter_area(img, top, left, h, w, out):
            resize_crop(img, top, top + h, left, left + w, out)

        monkeypatch.setattr(kernels(), "resize_view", inter_area)
        stock = views.bench_views(views.sources(None, 32), images=24, image_size=32)["paths"]
        geometry = stock["ffcv, colour on the device"]["geometry"]
        assert geometry["mad"] > 0.5 and geometry["psnr_db"] < 45


def test_source_size_refusals(photos, cli) -> None:
    code, _, err = cli("bench", "views", "--data", str(photos), "--source-size", "32")
    assert code == 2 and err.count("\n") == 1 and "drop one of the two" in err
    code, _, err = cli("bench", "views", "--source-size", "4")
    assert code == 2 and err.count("\n") == 1 and "need N >= 8" in err

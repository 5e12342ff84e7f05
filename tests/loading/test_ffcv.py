"""FFCV path: .beton writing (atomic, sidecar, staleness) and the decode-once two-view loader."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("ffcv")

import cv2
from ffcv_reference import ColourAfterFFCV, TwiceDecodedFFCV

from mocobench.augment.spec import Blur, Grayscale, Jitter, ViewSpec, view_spec
from mocobench.data.folder import list_split
from mocobench.errors import UsageError
from mocobench.loading import ffcv_beton
from mocobench.loading.ffcv_beton import (
    beton_matches,
    default_beton,
    read_image,
    read_labels,
    read_sidecar,
    samples_fingerprint,
)
from mocobench.loading.ffcv_loader import TwoViewFFCV
from mocobench.loading.ffcv_writer import write_beton
from mocobench.loading.order import GlobalBatchSampler, epoch_order
from mocobench.runtime.seeds import sample_seed32

S = 24  # view size
MAX_RES = 150  # caps the four large images (stored as JPEG); the small ones are stored raw
N = 24
BATCH = 5


def _image(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Natural-ish content: a colour gradient, noise and a few discs."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx / w * 255, yy / h * 255, (xx + yy) / (w + h) * 255], -1) * rng.uniform(0.3, 1, 3)
    img += rng.normal(0, 8, (h, w, 3))
    for _ in range(3):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, min(w, h) / 3)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_folder(root: Path, n: int = N) -> Path:
    """ImageNet layout, 3 classes: 40-64 px JPEGs, one PNG, and every 6th image 160 x 130 (JPEG-stored)."""
    rng = np.random.default_rng(0)
    for k in range(n):
        cdir = root / "train" / f"class{k % 3}"
        cdir.mkdir(parents=True, exist_ok=True)
        w, h = (160, 130) if k % 6 == 0 else (int(rng.integers(40, 65)), int(rng.integers(40, 65)))
        im = Image.fromarray(_image(rng, w, h))
        if k == 1:
            im.save(cdir / f"img{k:03d}.png")
        else:
            im.save(cdir / f"img{k:03d}.jpg", quality=95)
    return root


def stored_reference(path: Path, max_res: int) -> np.ndarray:
    """What the writer stores for `path`: PIL RGB pixels, longer side capped with INTER_AREA."""
    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    ratio = max_res / max(h, w)
    if ratio < 1:
        img = cv2.resize(img, (round(w * ratio), round(h * ratio)), interpolation=cv2.INTER_AREA)
    return img


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("ffcv") / "data")


@pytest.fixture(scope="module")
def samples(folder: Path) -> list[tuple[Path, int]]:
    return list_split(folder, "train")[0]


@pytest.fixture(scope="module")
def beton(folder: Path, samples: list[tuple[Path, int]]) -> Path:
    return write_beton(samples, folder.parent / "out" / "train.beton", max_resolution=MAX_RES, progress=False)


def test_write_round_trip(beton: Path, samples: list[tuple[Path, int]]) -> None:
    meta = read_sidecar(beton)
    assert meta is not None
    assert meta["count"] == N and meta["num_classes"] == 3 and meta["labels_present"] == 3
    assert meta["max_resolution"] == MAX_RES and meta["jpeg_quality"] == 90 and meta["write_mode"] == "smart"
    assert meta["format_version"] == ffcv_beton.FORMAT_VERSION and meta["bytes"] == beton.stat().st_size
    assert meta["fingerprint"] == samples_fingerprint(samples)
    assert read_labels(beton).tolist() == [label for _, label in samples]
    for i, (path, _) in enumerate(samples):
        got, want = read_image(beton, i), stored_reference(path, MAX_RES)
        assert got.shape == want.shape and max(got.shape[:2]) <= MAX_RES
        diff = np.abs(got.astype(int) - want).mean()
        if want.nbytes > ffcv_beton.SMART_RAW_MAX_BYTES:
            assert 0 < diff < 3, (path, diff)  # JPEG at quality 90
        else:
            assert diff == 0, path  # small images are stored raw
    assert sorted(p.name for p in beton.parent.iterdir()) == ["train.beton", "train.beton.json"]


def test_max_resolution_caps_longer_side(samples: list[tuple[Path, int]], tmp_path: Path) -> None:
    out = write_beton(samples[:6], tmp_path / "small.beton", max_resolution=32, progress=False, workers=1)
    for i, (path, _) in enumerate(samples[:6]):
        src = Image.open(path).size  # (w, h)
        h, w = read_image(out, i).shape[:2]
        assert max(h, w) == 32
        assert abs(w / h - src[0] / src[1]) < 0.1


def test_unreadable_image_leaves_nothing(folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    samples = list_split(bad, "train")[0]
    victim = samples[13][0]
    victim.write_bytes(b"not an image at all")
    out = tmp_path / "out" / "bad.beton"
    with pytest.raises(UsageError, match=victim.name):
        write_beton(samples, out, max_resolution=64, workers=2, progress=False)
    assert list(out.parent.iterdir()) == []  # no .beton, no sidecar, no temporary file


def test_beton_matches_tracks_the_folder(folder: Path, tmp_path: Path) -> None:
    data = tmp_path / "copy"
    shutil.copytree(folder, data)
    samples = list_split(data, "train")[0]
    out = write_beton(samples, tmp_path / "b.beton", max_resolution=64, workers=1, progress=True)
    assert beton_matches(out, samples, 64, 90)
    assert not beton_matches(out, samples, 96, 90)  # other options
    assert not beton_matches(out, samples, 64, 80)
    moved = tmp_path / "moved"
    shutil.copytree(data, moved)  # copytree keeps mtimes: the same images elsewhere still match
    assert beton_matches(out, list_split(moved, "train")[0], 64, 90)
    Image.fromarray(_image(np.random.default_rng(1), 50, 50)).save(data / "train" / "class0" / "new.jpg")
    assert not beton_matches(out, list_split(data, "train")[0], 64, 90)  # an added image
    (data / "train" / "class0" / "new.jpg").unlink()
    assert beton_matches(out, list_split(data, "train")[0], 64, 90)
    samples[3][0].write_bytes(samples[4][0].read_bytes())  # a changed image
    assert not beton_matches(out, list_split(data, "train")[0], 64, 90)
    Path(f"{out}.json").unlink()
    assert not beton_matches(out, samples, 64, 90)


def test_default_beton_location(tmp_path: Path) -> None:
    a = default_beton(tmp_path / "data", "train", 512, 90)
    assert a.parent == tmp_path / "home" / "ffcv" and a.suffix == ".beton"
    others = {
        default_beton(tmp_path / "data", "val", 512, 90),
        default_beton(tmp_path / "data", "train", 256, 90),
        default_beton(tmp_path / "data", "train", 512, 80),
        default_beton(tmp_path / "other" / "data", "train", 512, 90),
    }
    assert a not in others and len(others) == 4


def test_missing_ffcv_and_missing_beton_are_usage_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="write it first"):
        TwoViewFFCV(tmp_path / "nope.beton", view_spec("aug_plus", S), 4)
    monkeypatch.setattr(ffcv_beton, "_ffcv_import_error", lambda: "ImportError: no module named ffcv")
    with pytest.raises(UsageError) as e:
        ffcv_beton.require_ffcv()
    assert "pip install 'mocobench[ffcv]'" in str(e.value) and "\n" not in str(e.value)


# --- loader ------------------------------------------------------------------------------------------------

GEOMETRY = ViewSpec("aug_plus", S, (0.2, 1.0), ())


@pytest.fixture(scope="module")
def once(beton: Path) -> TwoViewFFCV:
    return TwoViewFFCV(beton, GEOMETRY, BATCH, seed=3, workers=2, drop_last=False)


def epoch_batches(loader: TwoViewFFCV, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    loader.set_epoch(epoch)
    views, labels = zip(*[(v.clone(), y) for v, y in loader], strict=True)
    return torch.cat(views).numpy(), torch.cat(labels).numpy()


def pil_view(img: np.ndarray, top: int, left: int, h: int, w: int, size: int) -> np.ndarray:
    """The official resize: torchvision's resized_crop on a PIL image, bilinear (main_moco.py:329@7397dfe)."""
    crop = Image.fromarray(img).crop((left, top, left + w, top + h))
    return np.asarray(crop.resize((size, size), Image.BILINEAR))


def reference_views(beton: Path, loader: TwoViewFFCV, index: int, epoch: int) -> np.ndarray:
    """Both views of sample `index` from the stored image at the loader's crop boxes: PIL's bilinear where
    the crop is enlarged on a side, else OpenCV's INTER_AREA."""
    img = read_image(beton, index)
    out = []
    for top, left, h, w, flip in loader.crop_boxes(index, epoch):
        if h < S or w < S:
            view = pil_view(img, top, left, h, w, S)
        else:
            view = cv2.resize(img[top : top + h, left : left + w], (S, S), interpolation=cv2.INTER_AREA)
        out.append(view[:, ::-1] if flip else view)
    return np.stack(out).transpose(0, 3, 1, 2)


def test_once_shapes_order_and_content(once: TwoViewFFCV, beton: Path) -> None:
    assert len(once) == -(-N // BATCH)
    once.set_epoch(0)
    batches = list(once)
    assert len(batches) == len(once)
    v, y = batches[0]
    assert v.shape == (BATCH, 2, 3, S, S) and v.dtype == torch.uint8
    assert y.shape == (BATCH,) and y.dtype == torch.int64
    views, labels = epoch_batches(once, 0)
    order = once.order(0).astype(np.int64)
    assert sorted(order.tolist()) == list(range(N))  # every image once per epoch (drop_last=False)
    assert (labels == read_labels(beton)[order]).all()
    for pos, index in enumerate(order):
        want = reference_views(beton, once, int(index), 0)
        diff = np.abs(views[pos].astype(int) - want)
        # Same boxes and filter; the JPEG-stored images are decoded by libjpeg-turbo's fast IDCT in FFCV.
        assert diff.mean() < 2.5, (index, diff.mean())
    assert not (views[:, 0] == views[:, 1]).all(axis=(1, 2, 3)).any()  # two different crops


def test_crop_boxes_are_independent_torchvision_draws(once: TwoViewFFCV) -> None:
    h, w = read_image(once.beton, 0).shape[:2]
    boxes = np.stack([once.crop_boxes(0, epoch) for epoch in range(1500)])  # (E, 2, 5)
    area = boxes[:, :, 2] * boxes[:, :, 3] / (h * w)
    assert area.min() >= 0.18 and area.max() <= 1.0
    assert abs(np.corrcoef(area[:, 0], area[:, 1])[0, 1]) < 0.1  # query and key crops independent
    assert abs(np.corrcoef(boxes[:, 0, 1], boxes[:, 1, 1])[0, 1]) < 0.1
    assert abs(boxes[:, :, 4].mean() - 0.5) < 0.05  # flips
    from torchvision.transforms import RandomResizedCrop

    torch.manual_seed(0)
    tv = np.array(
        [RandomResizedCrop.get_params(torch.empty(3, h, w), [0.2, 1.0], [3 / 4, 4 / 3]) for _ in range(3000)]
    )
    tv_area = tv[:, 2] * tv[:, 3] / (h * w)
    assert abs(area.mean() - tv_area.mean()) < 0.02 and abs(area.std() - tv_area.std()) < 0.02
    assert abs(boxes[:, :, 2].mean() / boxes[:, :, 3].mean() - tv[:, 2].mean() / tv[:, 3].mean()) < 0.03


def test_epochs_differ_and_runs_reproduce(once: TwoViewFFCV, beton: Path) -> None:
    a0, _ = epoch_batches(once, 0)
    a1, _ = epoch_batches(once, 1)
    assert not np.array_equal(once.order(0), once.order(1))
    assert not np.array_equal(a0, a1)
    assert np.array_equal(epoch_batches(once, 1)[0], a1)  # the same epoch again
    # Two processes' halves (one decoding thread each, other batch cut): the same views of every image.
    by_index = dict(zip(once.order(1).tolist(), a1, strict=True))
    seen = set()
    for rank in (0, 1):
        half = TwoViewFFCV(
            beton, GEOMETRY, BATCH, seed=3, workers=1, rank=rank, world_size=2, drop_last=False
        )
        views, _ = epoch_batches(half, 1)
        for index, v in zip(half.order(1).tolist(), views, strict=True):
            assert np.array_equal(v, by_index[index])
            seen.add(index)
    assert seen == set(range(N))


def test_twice_baseline_matches_distribution(once: TwoViewFFCV, beton: Path) -> None:
    # One thread: FFCV compiles its stock decoders again for every loader, much faster without prange.
    twice = TwiceDecodedFFCV(beton, GEOMETRY, BATCH, seed=3, workers=1, drop_last=False)
    assert len(twice) == len(once)
    epochs = 16  # the stock decoders draw from unseeded generators: enough epochs to make this robust
    means = {}
    for name, loader in (("once", once), ("twice", twice)):
        per_sample = np.zeros((N, 2))
        for epoch in range(epochs):
            views, labels = epoch_batches(loader, epoch)
            assert views.shape == (N, 2, 3, S, S) and views.dtype == np.uint8
            assert (labels == read_labels(beton)[loader.order(epoch).astype(np.int64)]).all()
            per_sample[loader.order(epoch).astype(np.int64)] += views.reshape(N, 2, -1).mean(-1) / epochs
        means[name] = per_sample
    assert (np.abs(means["once"].mean(0) - means["twice"].mean(0)) < 2.5).all()  # per view
    assert np.corrcoef(means["once"].mean(1), means["twice"].mean(1))[0, 1] > 0.95  # per image


def _stand_in_colour(img: np.ndarray, ops: tuple, rng: np.random.Generator) -> np.ndarray:
    """Tiny stand-in for cpu_colour.apply_colour (used only when that module is absent)."""
    for op in ops:
        if rng.random() >= op.p:
            continue
        if isinstance(op, Jitter):
            img = np.clip(img * rng.uniform(1 - op.brightness, 1 + op.brightness), 0, 255).astype(np.uint8)
        elif isinstance(op, Grayscale):
            img = np.repeat(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
        elif isinstance(op, Blur):
            img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(*op.sigma)))
    return img


@pytest.fixture
def colour_module(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import mocobench.augment.cpu_colour  # noqa: F401
    except ImportError:
        monkeypatch.setitem(
            sys.modules, "mocobench.augment.cpu_colour", types.SimpleNamespace(apply_colour=_stand_in_colour)
        )


@pytest.mark.usefixtures("colour_module")
def test_colour_in_loader(beton: Path, once: TwoViewFFCV) -> None:
    spec = ViewSpec("t", S, (0.2, 1.0), (Jitter(0.4, 0.4, 0.4, 0.1, p=0.8), Grayscale(1.0), Blur((0.1, 2.0))))
    kwargs = {"seed": 3, "workers": 2, "drop_last": False, "colour_in_loader": True}
    in_pipeline = TwoViewFFCV(beton, spec, BATCH, **kwargs)
    after = ColourAfterFFCV(beton, spec, BATCH, **kwargs)
    a, labels = epoch_batches(in_pipeline, 2)
    assert a.shape == (N, 2, 3, S, S) and a.dtype == np.uint8
    assert (a[:, :, 0] == a[:, :, 1]).all() and (a[:, :, 1] == a[:, :, 2]).all()  # grayscale p=1
    geometry, _ = epoch_batches(once, 2)
    assert not np.array_equal(a, geometry)
    b, labels_b = epoch_batches(after, 2)
    assert np.array_equal(a, b) and np.array_equal(labels, labels_b)  # same draws wherever colour runs

    def boom(img: np.ndarray, ops: tuple, rng: np.random.Generator) -> np.ndarray:
        raise ValueError("colour failed")

    in_pipeline._apply_colour = boom
    with pytest.raises(ValueError, match="colour failed"):  # raised in FFCV's thread, not a hang
        epoch_batches(in_pipeline, 0)
    in_pipeline.close()
    after.close()


def test_drop_last_workers_clamp_and_small_data(beton: Path) -> None:
    with pytest.warns(UserWarning, match="NUMBA_NUM_THREADS"):
        loader = TwoViewFFCV(beton, GEOMETRY, 7, workers=999)
    import numba

    assert loader.workers == numba.config.NUMBA_NUM_THREADS
    assert len(loader) == N // 7 and len(loader.order(0)) == (N // 7) * 7
    with pytest.raises(UsageError, match="fewer than one batch"):
        TwoViewFFCV(beton, GEOMETRY, 13, world_size=2, rank=1)


def test_rank_order_rebuilds_the_global_batch() -> None:
    size, local, world = 23, 3, 2
    sampler = GlobalBatchSampler(size, local * world, 0, 1, seed=5)
    sampler.set_epoch(4)
    single = [i for batch in sampler for _, i in batch]
    ranks = [epoch_order(size, local, r, world, 5, 4, drop_last=True) for r in range(world)]
    rebuilt = np.stack([r.reshape(-1, local) for r in ranks], axis=1).reshape(-1)
    assert rebuilt.tolist() == single
    padded = [epoch_order(size, local, r, world, 5, 4, drop_last=False) for r in range(world)]
    assert len(padded[0]) == len(padded[1]) == 12  # 3 full global batches + the 5-sample tail padded to 6
    assert set(np.concatenate(padded).tolist()) == set(range(size))


def test_seed_twin_matches_compiled_kernel() -> None:
    from mocobench.loading.ffcv_kernels import kernels

    k = kernels()
    for seed, epoch, index in [(0, 0, 0), (3, 7, 11), (2**31, 199, 1_281_166)]:
        assert int(k.seed32(seed, epoch, np.uint64(index))) == sample_seed32(seed, epoch, index)

"""two_view: TwoViewFolder's keys and views (seeded per sample, independent views, workers agree)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from photos import photo, write
from torch.utils.data import DataLoader

from mocobench.augment.cpu_colour import apply_colour
from mocobench.augment.geometry import crop_resize_flip
from mocobench.augment.spec import view_spec
from mocobench.data.decode import decode
from mocobench.data.folder import list_split
from mocobench.errors import UsageError
from mocobench.loading.order import GlobalBatchSampler
from mocobench.loading.two_view import TwoViewFolder, worker_init

S = 32


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 classes x 6 JPEGs of 60x80 / 80x60 (and one PNG), ImageNet layout."""
    root = tmp_path_factory.mktemp("jpegs")
    for c in range(2):
        for i in range(6):
            h, w = (60, 80) if i % 2 else (80, 60)
            write(root / "train" / f"class{c}" / f"{i}.jpg", photo(h, w, seed=10 * c + i), quality=90)
    write(root / "train" / "class1" / "7.png", photo(50, 70, seed=99))
    return root


def folder(
    root: Path, kind: str = "aug_plus", in_workers: bool = True, seed: int = 0, **spec
) -> TwoViewFolder:
    samples, classes = list_split(root, "train")
    return TwoViewFolder(samples, classes, replace(view_spec(kind, S), **spec), in_workers, seed=seed)


def test_views_are_reproducible_per_key(jpegs: Path):
    ds = folder(jpegs)
    views, label = ds[(0, 3)]
    assert views.dtype == torch.uint8 and views.shape == (2, 3, S, S) and views.is_contiguous()
    assert label == ds.samples[3][1]
    assert torch.equal(views, ds[(0, 3)][0])  # same (seed, epoch, index): the same pair
    assert torch.equal(views, folder(jpegs)[(0, 3)][0])  # a fresh dataset (resumed run) too
    assert not torch.equal(views, ds[(1, 3)][0])  # next epoch: new draws
    assert not torch.equal(views, folder(jpegs, seed=1)[(0, 3)][0])
    assert not torch.equal(views[0], views[1])
    assert ds[(0, 12)][0].shape == (2, 3, S, S)  # the PNG


def test_geometry_only_views_are_the_uncoloured_crops(jpegs: Path):
    """Geometry draws come first, so both modes cut the same crops; colour then follows on the same rng."""
    geo, col = folder(jpegs, in_workers=False), folder(jpegs, in_workers=True)
    for key in [(0, i) for i in range(len(geo))]:
        index, rng = geo.rng(key)
        img = decode(geo.samples[index][0])
        crops = [crop_resize_flip(img, box, S, flip) for box, flip in geo.geometry(rng, *img.shape[:2])]
        expected = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2)
        assert torch.equal(geo[key][0], expected)
        coloured = [apply_colour(c.copy(), col.spec.colour, rng) for c in crops]
        assert torch.equal(col[key][0], torch.from_numpy(np.stack(coloured)).permute(0, 3, 1, 2))
    assert torch.equal(folder(jpegs, in_workers=True, colour=())[(2, 5)][0], geo[(2, 5)][0])


def test_the_two_views_are_independent_draws(jpegs: Path):
    ds = folder(jpegs, kind="simclr")
    area, flips, same = [], [], 0
    for index in range(3000):
        _, rng = ds.rng((0, index))
        (b0, f0), (b1, f1) = ds.geometry(rng, 375, 500)
        area.append((b0[2] * b0[3], b1[2] * b1[3]))
        flips.append((f0, f1))
        same += b0 == b1
    a = np.array(area, dtype=np.float64)
    f = np.array(flips, dtype=np.float64)
    assert abs(np.corrcoef(a.T)[0, 1]) < 0.06
    assert f.mean() == pytest.approx(0.5, abs=0.03) and abs(np.corrcoef(f.T)[0, 1]) < 0.06
    assert same == 0


def test_int_keys_draw_from_torchs_generator(jpegs: Path):
    ds = folder(jpegs)
    torch.manual_seed(0)
    a = ds[4][0]
    torch.manual_seed(0)
    assert torch.equal(a, ds[4][0])
    assert not torch.equal(a, ds[4][0])


def test_dataloader_with_two_workers(jpegs: Path):
    ds = folder(jpegs)
    sampler = GlobalBatchSampler(len(ds), 4, seed=0)
    serial = list(DataLoader(ds, batch_sampler=sampler))
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=2, worker_init_fn=worker_init)
    parallel = list(loader)
    assert len(parallel) == len(serial) == 3
    for (v1, y1), (v2, y2) in zip(serial, parallel, strict=True):
        assert v2.shape == (4, 2, 3, S, S) and v2.dtype == torch.uint8
        assert torch.equal(v1, v2) and torch.equal(y1, y2)


def test_worker_init_sets_one_thread():
    before = cv2.getNumThreads(), torch.get_num_threads()
    try:
        worker_init(0)
        assert cv2.getNumThreads() == 1 and torch.get_num_threads() == 1
    finally:
        cv2.setNumThreads(before[0])
        torch.set_num_threads(before[1])


def test_unreadable_image_in_the_dataset(tmp_path: Path):
    bad = tmp_path / "train" / "cat" / "broken.jpg"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\xff\xd8\xff not really")
    with pytest.raises(UsageError, match=r"unreadable image .*broken\.jpg"):
        folder(tmp_path)[(0, 0)]

"""Images that pass a header check but not the loaders, bombs, and class folders that mean nothing (issue 20):
the up-front check decodes what the loaders decode, and every refusal is one line naming the file."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile import bomb_png, image_folder, jpeg_claiming, truncate
from PIL import Image
from torch.utils.data import DataLoader

from mocobench.data import decode as decode_module
from mocobench.data.decode import decode, load_rgb, verify_decodable
from mocobench.data.folder import FolderDataset, list_split, list_train_val, verify_images
from mocobench.errors import UsageError

TOO_LARGE = f"has more than {Image.MAX_IMAGE_PIXELS:,} pixels"


def _refusal(call: Callable[..., object], *args: object) -> str:
    with pytest.raises(UsageError) as error:
        call(*args)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_truncated_jpeg_passes_pils_verify_but_not_the_check(tmp_path: Path):
    root = image_folder(tmp_path / "d")
    bad = truncate(root / "train" / "b" / "1.jpg")
    with Image.open(bad) as im:
        im.verify()  # headers only: what the check ran before, and why the file got through
    samples, _ = list_split(root, "train")
    message = _refusal(verify_images, samples)
    assert message == f"unreadable image {bad} (OSError); remove or replace the file"


@pytest.mark.parametrize(
    "make",
    [
        lambda d: bomb_png(d / "bomb.png"),  # 2.5 Gpx: PIL's DecompressionBombError
        lambda d: jpeg_claiming(d / "big.jpg", 9_500, 9_500),  # 90 Mpx: PIL only warns; cv2 would decode
    ],
)
def test_an_image_over_pils_pixel_limit_is_one_line_on_every_path(tmp_path: Path, make):
    path = make(tmp_path)
    assert path.stat().st_size < 1_000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for call, arg in ((load_rgb, path), (decode, path), (verify_decodable, [path])):
            message = _refusal(call, arg)
            assert message.startswith(f"image {path} {TOO_LARGE}") and "downscale or remove" in message
    assert not caught  # nothing printed besides the one line
    assert not [f for f in warnings.filters if f[2] is Image.DecompressionBombWarning]  # filter not left


def test_decode_load_rgb_and_the_check_refuse_the_same_files(tmp_path: Path):
    good = image_folder(tmp_path / "d", classes=("a",), train=1, val=0) / "train" / "a" / "0.jpg"
    png = tmp_path / "ok.png"
    Image.open(good).save(png)
    (tmp_path / "truncated.jpg").write_bytes(good.read_bytes())
    truncate(tmp_path / "truncated.jpg")
    (tmp_path / "truncated.png").write_bytes(png.read_bytes()[:-30])
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    bomb_png(tmp_path / "bomb.png")
    jpeg_claiming(tmp_path / "claims.jpg", 10_000, 9_000)
    for name in ("truncated.jpg", "truncated.png", "garbage.png", "bomb.png", "claims.jpg"):
        path = tmp_path / name
        messages = {_refusal(call, arg) for call, arg in ((load_rgb, path), (decode, path))}
        messages.add(_refusal(verify_decodable, [good, path, png]))
        assert len(messages) == 1 and str(path) in messages.pop(), name
    verify_decodable([good, png])  # and the good ones pass


def test_every_image_is_decoded_in_order_up_to_the_limit_and_a_fixed_sample_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    seen: list[Path] = []

    def fake_load(path: Path) -> None:
        seen.append(path)
        if path.name in ("5", "100", "130"):
            raise UsageError(f"unreadable image {path}")

    monkeypatch.setattr(decode_module, "load_rgb", fake_load)
    paths = [tmp_path / str(i) for i in range(150)]  # three chunks: decoded on threads
    verify_decodable(paths[6:100])
    assert sorted(seen, key=lambda p: int(p.name)) == paths[6:100]
    with pytest.raises(UsageError, match=r"/5$"):  # the first broken file in order, whichever thread ran
        verify_decodable(paths)
    monkeypatch.setattr(decode_module, "VERIFY_ALL_BELOW", 100)
    monkeypatch.setattr(decode_module, "VERIFY_SAMPLE", 10)
    seen.clear()
    verify_decodable(paths[6:100])  # 94: all
    assert len(seen) == 94
    seen.clear()
    big = [tmp_path / f"x{i}" for i in range(101)]
    verify_decodable(big)
    first = list(seen)
    seen.clear()
    verify_decodable(big)
    assert len(first) == 10 and seen == first  # a sample, the same each time


def test_a_loader_workers_refusal_stays_one_line(tmp_path: Path):
    root = image_folder(tmp_path / "d", classes=("a",), train=2, val=0)
    bad = truncate(root / "train" / "a" / "1.jpg")
    samples, classes = list_split(root, "train")
    loader = DataLoader(FolderDataset(samples, classes, lambda im: 0), batch_size=2, num_workers=1)
    message = _refusal(lambda: next(iter(loader)))
    assert message == f"unreadable image {bad} (OSError); remove or replace the file"


def test_an_empty_class_folder_is_named_in_train_and_in_val(tmp_path: Path):
    root = image_folder(tmp_path / "d", classes=("a", "b", "c"))
    for split in ("train", "val"):
        empty = root / split / "b"
        moved = [p.rename(tmp_path / f"{split}-{p.name}") for p in sorted(empty.iterdir())]
        (empty / "notes.txt").write_text("not an image")
        message = _refusal(list_train_val, root)
        assert message.startswith(f"class folder {empty} holds no images")
        assert "add its images or remove the folder" in message
        for p in moved:
            p.rename(empty / p.name.split("-", 1)[1])
    train, val, classes = list_train_val(root, max_per_class=1)  # restored; the cap still applies
    assert (len(train), len(val), classes) == (3, 6, ["a", "b", "c"])


def test_a_single_class_is_refused_for_classification(tmp_path: Path):
    root = image_folder(tmp_path / "d", classes=("only",))
    assert len(list_split(root, "train")[0]) == 4  # a split alone (STL-10's unlabeled/) may have one
    message = _refusal(list_train_val, root)
    assert message.startswith(f"{root}/train has one class folder (only)") and "at least 2" in message
    assert re.search(r"top-1 over one class is always 100%", message)

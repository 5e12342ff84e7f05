"""decode: the fast JPEG path gives PIL's pixels, and every unreadable file the one-line error."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from photos import photo, write
from PIL import Image

from mocobench.data.decode import decode, load_rgb
from mocobench.errors import UsageError

IMG = photo(120, 160)


@pytest.mark.parametrize(
    ("name", "mode"),
    [("a.jpg", "RGB"), ("b.jpg", "L"), ("c.jpg", "CMYK"), ("d.png", "RGBA"), ("e.png", "P"), ("f.png", "LA")],
)
def test_decode_equals_load_rgb(tmp_path: Path, name: str, mode: str):
    path = write(tmp_path / name, IMG, mode)
    img = decode(path)
    assert img.dtype == np.uint8 and img.shape == (120, 160, 3) and img.flags.writeable
    assert np.array_equal(img, np.asarray(load_rgb(path)))


def test_decode_16_bit_png(tmp_path: Path):
    path = tmp_path / "g.png"
    Image.fromarray(IMG[..., 0].astype(np.uint16) * 257).save(path)
    assert np.array_equal(decode(path), np.asarray(load_rgb(path)))


def test_unreadable_images_raise_the_usage_error(tmp_path: Path):
    good = write(tmp_path / "good.jpg", IMG, quality=90).read_bytes()
    cases = {
        "garbage.jpg": b"not a jpeg",
        "empty.jpg": b"",
        "header_only.jpg": good[:20],
        "truncated.jpg": good[: len(good) // 2],
        "corrupt.jpg": good[:200] + bytes(len(good) - 202) + b"\xff\xd9",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    for name in [*cases, "missing.jpg"]:
        with pytest.raises(UsageError, match=f"unreadable image .*{re.escape(name)}"):
            decode(tmp_path / name)
        # The reference loader agrees on every one of them.
        with pytest.raises(UsageError):
            load_rgb(tmp_path / name)

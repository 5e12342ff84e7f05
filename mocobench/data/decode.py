"""Reading an image file as RGB: PIL's `convert("RGB")` (the reference) and a faster, bit-identical JPEG path.

`load_rgb` is what torchvision's ImageFolder loader does; `decode` gives the same pixels as a uint8 array,
through OpenCV's libjpeg-turbo for complete RGB JPEGs (nearly all of ImageNet) and PIL for everything else.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from mocobench.errors import UsageError


def load_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise UsageError(f"unreadable image {path} ({type(e).__name__}); remove or replace the file") from e


_JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"  # a truncated file lacks it: cv2 would return a half-grey image, PIL raises
# RGB output straight from libjpeg-turbo (OpenCV >= 4.10; older ones decode BGR and convert); EXIF
# orientation ignored because PIL's Image.open (the reference's loader) ignores it too.
_RGB_FLAG = getattr(cv2, "IMREAD_COLOR_RGB", None)
_CV2_FLAGS = (cv2.IMREAD_COLOR if _RGB_FLAG is None else _RGB_FLAG) | cv2.IMREAD_IGNORE_ORIENTATION


def decode(path: Path | str) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array of the image at `path`, as `load_rgb` would give.

    Complete JPEGs (nearly all of ImageNet) go through cv2.imdecode, ~25% faster than PIL and bit-identical
    (both libjpeg-turbo, EXIF orientation ignored by both). Everything else goes through PIL's
    `convert("RGB")`, which defines the semantics for palettes, alpha, 16-bit and CMYK (4-component JPEGs:
    cv2 converts them with another formula) and raises the one-line UsageError for a broken file;
    so do JPEGs without their end marker (truncated: cv2 would return them half grey) or that cv2 refuses.
    """
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise UsageError(f"unreadable image {path} ({type(e).__name__}); remove or replace the file") from e
    if buf[:3].tobytes() == _JPEG_MAGIC and buf[-2:].tobytes() == _JPEG_END and not _is_cmyk_jpeg(buf):
        try:
            img = cv2.imdecode(buf, _CV2_FLAGS)
        except cv2.error:
            img = None
        if img is not None and img.ndim == 3 and img.shape[2] == 3:
            return img if _RGB_FLAG is not None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.array(load_rgb(Path(path)))  # a writable copy (PIL's buffer is read-only)


def _is_cmyk_jpeg(buf: np.ndarray) -> bool:
    """True if the JPEG's frame header (SOFn) declares 4 components.

    libjpeg gives CMYK to cv2 and PIL, which turn it to RGB with different formulas; PIL is the reference.
    """
    data = buf.tobytes()
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        length = (data[i + 2] << 8) | data[i + 3]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return data[i + 9] == 4  # SOFn: length(2) precision(1) height(2) width(2) components(1)
        if marker == 0xDA:  # start of scan before any frame header: malformed, let the decoders decide
            return False
        i += 2 + length
    return False

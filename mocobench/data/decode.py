"""Reading an image file as RGB: PIL's `convert("RGB")` (the reference) and a faster, bit-identical JPEG path.

`load_rgb` is what torchvision's ImageFolder loader does; `decode` gives the same pixels as a uint8 array,
through OpenCV's libjpeg-turbo for complete RGB JPEGs (nearly all of ImageNet) and PIL for everything else.
Both refuse the same files with the same one line: one PIL cannot decode whole (a truncated JPEG included)
and one over PIL's `Image.MAX_IMAGE_PIXELS` (~89 Mpx, its decompression-bomb guard, which only warns up to
twice the limit: the warning is an error here). `verify_decodable` runs `load_rgb` over the images a run
will read before the run starts, so a bad file stops it before anything is written.
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from mocobench.errors import UsageError

# Up to VERIFY_ALL_BELOW images every one is decoded before a run starts: an ImageNet-size JPEG takes ~1.5 ms
# on one core, so 20,000 take ~30 s on one, a few on a GPU machine's threads. Larger sets (ImageNet's 1.28M
# would take ~30 min on one core) get a deterministic sample of VERIFY_SAMPLE.
VERIFY_ALL_BELOW = 20_000
VERIFY_SAMPLE = 500
VERIFY_CHUNK = 64  # images per thread task (PIL decodes without the GIL; a task costs more than a tiny PNG)
# what PIL raises on a damaged file (SyntaxError and ValueError from some plugins' parsers)
_BROKEN = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)


def _too_large(path: Path | str) -> UsageError:
    return UsageError(
        f"image {path} has more than {Image.MAX_IMAGE_PIXELS:,} pixels (PIL's MAX_IMAGE_PIXELS, its guard "
        "against decompression bombs); downscale or remove the file"
    )


def load_rgb(path: Path) -> Image.Image:
    """The whole image as RGB, or the one-line UsageError naming the file.

    The bomb warning becomes an error inside this call only (`catch_warnings` is per process: threads that
    decode at once, as the FFCV writer's, may miss it for an instant, and `verify_decodable` holds it).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise _too_large(path) from e
    except _BROKEN as e:
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
    so do JPEGs without their end marker (truncated: cv2 would return them half grey), JPEGs whose frame
    header declares more pixels than PIL's limit (cv2's own limit is 2^30) and JPEGs cv2 refuses.
    """
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise UsageError(f"unreadable image {path} ({type(e).__name__}); remove or replace the file") from e
    if buf[:3].tobytes() == _JPEG_MAGIC and buf[-2:].tobytes() == _JPEG_END and _cv2_decodes(buf):
        try:
            img = cv2.imdecode(buf, _CV2_FLAGS)
        except cv2.error:
            img = None
        if img is not None and img.ndim == 3 and img.shape[2] == 3:
            return img if _RGB_FLAG is not None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.array(load_rgb(Path(path)))  # a writable copy (PIL's buffer is read-only)


def _cv2_decodes(buf: np.ndarray) -> bool:
    """True if cv2 gives PIL's pixels for this JPEG: its frame header (SOFn) declares 1 or 3 components
    and no more pixels than PIL's limit.

    libjpeg gives CMYK (4 components) to cv2 and PIL, which turn it to RGB with different formulas; PIL is
    the reference. Without a frame header before the first scan the file is malformed: PIL decides.
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
            # SOFn: length(2) precision(1) height(2) width(2) components(1)
            height, width = (data[i + 5] << 8) | data[i + 6], (data[i + 7] << 8) | data[i + 8]
            limit = Image.MAX_IMAGE_PIXELS
            return data[i + 9] in (1, 3) and not (limit and height * width > limit)
        if marker == 0xDA:  # start of scan before any frame header
            return False
        i += 2 + length
    return False


def _load_all(paths: list[Path]) -> None:
    for path in paths:
        load_rgb(path)


def verify_decodable(paths: Sequence[Path]) -> None:
    """Decode the images a run will read before it starts: the first broken one (in `paths` order) is the
    one-line UsageError of `load_rgb`, before any run folder or result is written.

    `load_rgb` is the check because every loader is it or falls back to it: the PIL loaders and the FFCV
    writer call it, and `decode` returns cv2's pixels only where cv2 decodes the file, else calls it; a file
    it reads is read by all. Up to VERIFY_ALL_BELOW images every one is decoded, on threads; above, a fixed
    sample of VERIFY_SAMPLE (a file outside it still fails in the loader with the same line).
    """
    paths = list(paths)
    if len(paths) > VERIFY_ALL_BELOW:
        paths = random.Random(0).sample(paths, VERIFY_SAMPLE)
    chunks = [paths[i : i + VERIFY_CHUNK] for i in range(0, len(paths), VERIFY_CHUNK)]
    with warnings.catch_warnings():  # held for every thread while they decode (see `load_rgb`)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        if len(chunks) <= 1:
            _load_all(paths)
            return
        pool = ThreadPoolExecutor(min(os.cpu_count() or 1, 8, len(chunks)))
        try:
            for _ in pool.map(_load_all, chunks):  # re-raises the first failing chunk's error, in order
                pass
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

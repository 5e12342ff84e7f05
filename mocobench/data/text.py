"""The small text files of a dataset (class lists, image sets): UTF-8 lines, or a one-line refusal.

Read in the locale's encoding, a file saved in another one stops the run with a UnicodeDecodeError
traceback, or gives class names that differ between machines. So every such file is UTF-8, and one that is
not is refused naming the first byte that is not; a byte-order mark (as Windows editors write) is skipped.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from mocobench.errors import UsageError


def read_lines(path: Path, fix: str) -> list[str]:
    """The stripped, non-empty lines of the UTF-8 file `path`; `fix` ends the refusal of any other."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"{path} is unreadable ({e.strerror}); {fix}") from None
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        offset = e.start + len(data) - len(body)
        raise UsageError(
            f"{path} is not UTF-8 text (byte 0x{data[offset]:02x} at offset {offset}); {fix}"
        ) from None
    return [line.strip() for line in text.splitlines() if line.strip()]

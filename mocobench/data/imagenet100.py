"""ImageNet-100: ImageNet restricted to CMC's 100 classes (`imagenet100_classes.txt`, source in its header).

The source is an ImageNet folder with `train/<wnid>/` and `val/<wnid>/` (the validation images sorted into
class folders). The cache folder holds symlinks to the 100 class folders of each split: nothing is copied,
and every loader reads it as any ImageNet-layout folder.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from mocobench.errors import UsageError

SPLITS = ("train", "val")
HINT = "pass an ImageNet folder with train/<wnid>/ and val/<wnid>/ (ILSVRC-2012, validation images sorted)"
VALPREP = "https://raw.githubusercontent.com/soumith/imagenetloader.torch/master/valprep.sh"


def class_list() -> list[str]:
    """The 100 wnids, in the order of CMC's file."""
    text = resources.files("mocobench.data").joinpath("imagenet100_classes.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def locate(path: Path) -> Path:
    if not path.is_dir():
        raise UsageError(f"{path} is not a folder; {HINT}")
    return path


def source_files(folder: Path) -> list[Path]:
    """The 200 class folders used (train and val), refused with the first missing wnids named."""
    wnids = class_list()
    files = []
    for split in SPLITS:
        split_dir = folder / split
        if not split_dir.is_dir():
            raise UsageError(f"{folder} has no {split}/ folder; {HINT}")
        missing = [w for w in wnids if not (split_dir / w).is_dir()]
        if missing and split == "val" and not any(p.is_dir() for p in split_dir.iterdir()):
            raise UsageError(
                f"{split_dir} holds no class folders; sort the validation images into val/<wnid>/ "
                f"(e.g. with {VALPREP})"
            )
        if missing:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            raise UsageError(
                f"{split_dir} lacks {len(missing)} of the 100 ImageNet-100 classes ({shown}); {HINT}"
            )
        files += [split_dir / w for w in wnids]
    return files


def link(folder: Path, out: Path) -> dict[str, int]:
    """`out/<split>/<wnid>` -> the source's class folders; returns each split's image count."""
    counts = {}
    for split in SPLITS:
        (out / split).mkdir(parents=True)
        count = 0
        for wnid in class_list():
            target = (folder / split / wnid).resolve()
            (out / split / wnid).symlink_to(target, target_is_directory=True)
            count += sum(1 for e in os.scandir(target) if e.is_file())
        counts[split] = count
    return counts

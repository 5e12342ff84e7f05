"""What `--data` names: the embedded set, an ImageNet-layout folder, or a standard small dataset in the
files its authors distribute (`cifar10:PATH`, `stl10:PATH`, `fashion-mnist:PATH`, ...).

Every engine (the PIL loaders, kornia's device augmentation, the FFCV .beton writer, the linear and kNN
evaluations) reads image files by path from an ImageNet-layout folder. So each published format is turned
once into such a folder in the cache, as lossless PNGs (ImageNet-100: symlinks to its class folders), and a
single data path serves every engine unchanged. torchvision's CIFAR10/STL10 classes insist on the official
md5 sums, so they cannot read the small files the tests write in the same format; the readers here
(`cifar.py`, `stl10.py`, `idx.py`, `imagenet100.py`) check the layout instead (names, byte counts, label
ranges) and refuse with one line naming the file and the fix.

The cache folder's name hashes the resolved source path, each source file's size and mtime and
`CONVERTER_VERSION`, so changed files convert again and unchanged ones never do; it appears whole or not
at all (`runtime.atomic.replace_folder`), with `source.json` recording the source, counts and classes.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from mocobench.augment.spec import IMAGENET_MEAN, IMAGENET_STD
from mocobench.data import cifar, idx, imagenet100, stl10
from mocobench.data.folder import ArraySplit, class_folder_names, list_split, write_split
from mocobench.data.synth import SynthSpec, embedded_dataset, spec_key
from mocobench.errors import UsageError
from mocobench.runtime.atomic import replace_folder, write_json
from mocobench.runtime.home import mocobench_home
from mocobench.runtime.progress import console

KINDS = ("embedded", "folder", "cifar10", "cifar100", "stl10", "imagenet100", "mnist", "fashion-mnist")
CONVERTER_VERSION = 1  # bump whenever a reader's output changes, so caches are rebuilt
MARKER = "source.json"

Triple = tuple[float, float, float]


def _gray(mean: float, std: float) -> tuple[Triple, Triple]:
    return (mean, mean, mean), (std, std, std)


# (mean, std) of each dataset's training images, RGB in [0, 1]; grayscale sets repeat their one value.
STATS: dict[str, tuple[Triple, Triple]] = {
    "embedded": (IMAGENET_MEAN, IMAGENET_STD),
    "folder": (IMAGENET_MEAN, IMAGENET_STD),
    "imagenet100": (IMAGENET_MEAN, IMAGENET_STD),
    # the official MoCo CIFAR-10 demo: facebookresearch/moco, colab/moco_cifar10_demo.ipynb
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    # solo-learn: vturrisi/solo-learn, solo/data/pretrain_dataloader.py MEANS_N_STD (commit 9187ea3)
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    # Lightning-Bolts: Lightning-Universe/lightning-bolts, src/pl_bolts/transforms/dataset_normalizations.py
    # stl10_normalization (commit 0df73ec); solo-learn's "stl10" entry repeats CIFAR-10's values instead
    "stl10": ((0.43, 0.42, 0.39), (0.27, 0.26, 0.27)),
    # pytorch/examples, mnist/main.py: Normalize((0.1307,), (0.3081,))
    "mnist": _gray(0.1307, 0.3081),
    # the usual (0.2860,), (0.3530,); measured on the 60,000 training images: 0.28604, 0.35302
    "fashion-mnist": _gray(0.2860, 0.3530),
}


@dataclass(frozen=True)
class DataSource:
    """Where a run's images are, and how to normalise them.

    Evaluation always uses `train/` (the linear training set, the kNN bank) and `val/` (the published
    test split); pre-training reads every folder of `pretrain_splits`.
    """

    kind: str  # one of KINDS
    spec: str  # what the user passed: "cifar10:/data/cifar-10-batches-py", a folder path, or "embedded"
    root: Path  # an ImageNet-layout folder: train/<class>/..., val/<class>/... (+ pretrain-only splits)
    mean: Triple
    std: Triple
    pretrain_splits: tuple[str, ...] = ("train",)  # stl10: ("train", "unlabeled")
    native_size: int | None = None  # image side in px when the format fixes it (CIFAR 32, STL 96, MNIST 28)


Read = Callable[[Path, Path], tuple[list[str], dict[str, ArraySplit]]]


@dataclass(frozen=True)
class _Format:
    locate: Callable[[Path], Path]  # the folder of the published files, from what the user passed
    files: Callable[[Path], list[Path]]  # the files the cache key covers (refusing a missing one)
    fill: Callable[[Path, Path], dict[str, Any]]  # (source folder, new cache folder) -> marker fields
    native_size: int | None = None
    pretrain_splits: tuple[str, ...] = ("train",)


def _convert(read: Read, folder: Path, out: Path) -> dict[str, Any]:
    """Decode the published files (`read`) and write them as PNGs into `out`."""
    scratch = out / ".scratch"
    scratch.mkdir()
    try:
        classes, splits = read(folder, scratch)
        folders = class_folder_names(classes)
        counts = {split: write_split(out, split, data, folders) for split, data in splits.items()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"classes": classes, "folders": folders, "counts": counts}


def _link_imagenet100(folder: Path, out: Path) -> dict[str, Any]:
    classes = imagenet100.class_list()
    return {"classes": classes, "folders": classes, "counts": imagenet100.link(folder, out)}


def _converted(module: Any, *kind: str, size: int, **kwargs: Any) -> _Format:
    """A format a reader module decodes (`locate`, `source_files`, `read`, each taking `kind` first when
    the module reads several formats)."""
    locate, files, read = (partial(f, *kind) for f in (module.locate, module.source_files, module.read))
    return _Format(locate, files, partial(_convert, read), size, **kwargs)


FORMATS: dict[str, _Format] = {
    "cifar10": _converted(cifar, "cifar10", size=cifar.SIDE),
    "cifar100": _converted(cifar, "cifar100", size=cifar.SIDE),
    "stl10": _converted(stl10, size=stl10.SIDE, pretrain_splits=("train", "unlabeled")),
    "imagenet100": _Format(imagenet100.locate, imagenet100.source_files, _link_imagenet100),
    "mnist": _converted(idx, "mnist", size=idx.SIDE),
    "fashion-mnist": _converted(idx, "fashion-mnist", size=idx.SIDE),
}
EXAMPLES = ", ".join(f"{kind}:PATH" for kind in FORMATS)


@dataclass(frozen=True)
class _Stamp:
    """What the cache folder's name hashes (`synth.spec_key`)."""

    kind: str
    source: str
    files: tuple[tuple[str, int, int], ...]  # (name relative to the source, size, mtime in ns)


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _cached(kind: str, spec: str, folder: Path, files: list[Path], fill: Callable) -> Path:
    """The cache folder of `folder`'s files, filled by `fill` unless an identical one is already there."""
    stamp = _Stamp(
        kind,
        str(folder),
        tuple((str(f.relative_to(folder)), f.stat().st_size, f.stat().st_mtime_ns) for f in files),
    )
    key = spec_key(CONVERTER_VERSION, stamp)
    out = mocobench_home() / "data" / f"{kind}-{key}"
    marker = out / MARKER
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")).get("key") == key:
        return out
    _say(f"{spec}: converting once into {out}")
    start = time.perf_counter()
    record: dict[str, Any] = {"key": key, "converter_version": CONVERTER_VERSION, "kind": kind}

    def write(tmp: Path) -> None:
        record.update(source=str(folder), **fill(folder, tmp), files=[list(f) for f in stamp.files])
        write_json(tmp / MARKER, record)

    replace_folder(out, write)
    counts = ", ".join(f"{n} {split}" for split, n in record["counts"].items())
    _say(f"{spec}: {counts} images in {time.perf_counter() - start:.1f} s")
    return out


def open_format(kind: str, path: Path, spec: str | None = None) -> DataSource:
    """A published dataset at `path`, converted into the cache on first use."""
    fmt = FORMATS[kind]
    spec = spec or f"{kind}:{path}"
    try:
        folder = fmt.locate(Path(path).expanduser()).resolve()
        root = _cached(kind, spec, folder, fmt.files(folder), fmt.fill)
    except UsageError as e:
        raise UsageError(f"{spec}: {e}") from e
    mean, std = STATS[kind]
    return DataSource(kind, spec, root, mean, std, fmt.pretrain_splits, fmt.native_size)


def open_data(spec: str | Path | None, embedded_train_per_class: int | None = None) -> DataSource:
    """`--data` resolved: None or "embedded" (generated on first use; `embedded_train_per_class` grows
    its train split), `KIND:PATH` for a published format (converted on first use), or an ImageNet-layout
    folder."""
    mean, std = STATS["embedded"]
    if spec is None or str(spec) == "embedded":
        synth = SynthSpec(train_per_class=embedded_train_per_class) if embedded_train_per_class else None
        return DataSource("embedded", "embedded", embedded_dataset(synth), mean, std)
    text = str(spec)
    prefix, colon, rest = text.partition(":")
    kind = prefix.lower() if colon else ""
    if kind in FORMATS:
        if not rest:
            raise UsageError(f"{text}: no path after '{prefix}:'; pass e.g. {kind}:/data/{kind}")
        return open_format(kind, Path(rest), text)
    path = Path(rest if kind == "folder" else text).expanduser()
    if path.is_dir():
        return DataSource("folder", text, path, mean, std)
    if kind and kind != "folder" and "/" not in prefix:
        raise UsageError(f"{text}: unknown data kind '{prefix}'; use {EXAMPLES} or an ImageNet-layout folder")
    raise UsageError(
        f"data {path} is not a folder; pass an ImageNet-layout folder, one of {EXAMPLES}, "
        "or omit --data for the embedded set"
    )


def list_pretrain(source: DataSource, max_per_class: int = 0) -> list[tuple[Path, int]]:
    """The samples pre-training reads: every split of `pretrain_splits`, at most `max_per_class` images per
    class of train/ and as many per train class from a split without labels (labelled 0: contrastive
    pre-training ignores labels)."""
    samples, classes = list_split(source.root, "train", max_per_class)
    for split in source.pretrain_splits:
        if split != "train":
            extra, _ = list_split(source.root, split, max_per_class * len(classes))
            samples += [(path, 0) for path, _ in extra]
    return samples

"""Which loader feeds pre-training, where its colour augmentation runs, and the (im_q, im_k) it hands over.

Loaders (`--loader`):
- `pil`: the official pipeline, torchvision ImageFolder-style + TwoCropsTransform on PIL images, colour and
  all in the loader workers (the reference of `bench loader`);
- `torch`: a DataLoader over the folder that decodes each image once and crops it twice (`two_view.py`);
- `ffcv`: the same from a .beton file (`ffcv_loader.py`), decoded once, cropped twice;
- `auto`: ffcv when FFCV is installed, the .beton exists or can be written, and colour runs on the device
  (a GPU); else torch, which is the faster of the two when the workers also do the colour work (measured).
  Either one's views are within `bench views`' bounds of the official ones at every size: FFCV resizes a
  crop it enlarges (every crop at 32 px: CIFAR, the `gpu` tier) as PIL's bilinear, bit for bit
  (`ffcv_kernels.resize_view`; tests/loading/test_loaders.py checks what `auto` picks on a GPU).

Colour (`--augment-on`): `device` runs jitter/grayscale/blur on the training device as batched
per-sample kornia ops (`augment/device.py`), `loader` runs them in the workers in uint8 OpenCV
(`augment/cpu_colour.py`); `auto` is device on a GPU, loader on the CPU (kornia on 2 CPU threads is slower
than the workers). `choose` resolves the two in that order: colour first, then the loader whose `auto`
depends on it. Every path draws from the one `ViewSpec` of the recipe, and tests/augment compares them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mocobench.augment.reference import TwoCropsTransform, view_transform
from mocobench.augment.spec import IMAGENET_MEAN, IMAGENET_STD, ViewSpec, blur_sigma_px, view_spec
from mocobench.data.folder import FolderDataset, Samples
from mocobench.errors import UsageError
from mocobench.loading import ffcv_beton
from mocobench.loading.order import batched_loader
from mocobench.runtime.distributed import DistInfo, broadcast_object
from mocobench.runtime.home import mocobench_home
from mocobench.runtime.step_options import StepOptions, to_input

LOADERS = ("auto", "ffcv", "torch", "pil")
AUGMENT_ON = ("auto", "device", "loader")
FFCV_MAX_RESOLUTION = 512  # longer side stored in the .beton; ImageNet's median image is ~500x375
FFCV_JPEG_QUALITY = 90
STORED_FILES = "the folder's image files"

Pairs = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class TwoViewSpec:
    """What a pre-training loader needs of a recipe: its augmentation and its batch."""

    augmentation: str  # one of augment.spec.PRETRAIN_KINDS
    image_size: int
    blur_sigma: tuple[float, float]  # pixels of a 224-px crop, as the paper gives it; scaled to image_size
    batch_size: int  # global: all processes together
    workers: int
    mean: tuple[float, float, float] = IMAGENET_MEAN  # the dataset's normalisation (data/sources.py)
    std: tuple[float, float, float] = IMAGENET_STD

    def view_spec(self) -> ViewSpec:
        sigma = blur_sigma_px(self.blur_sigma, self.image_size)
        return view_spec(self.augmentation, self.image_size, sigma, self.mean, self.std)


@dataclass
class TwoViewLoader:
    """Batches of a pre-training epoch and how to turn one into (im_q, im_k) on the device."""

    batches: Iterable[Any]
    set_epoch: Callable[[int], None]
    kind: str
    augment_on: str
    to_pairs: Callable[[Any, int], Pairs]
    beton: Path | None = None

    def __len__(self) -> int:
        assert isinstance(self.batches, Sized)
        return len(self.batches)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.batches)

    def pairs_forever(self) -> Iterator[Pairs]:
        """(im_q, im_k) batch after batch, epoch after epoch (the benchmarks)."""
        epoch = 0
        while True:
            self.set_epoch(epoch)
            for step, (images, _) in enumerate(self.batches):
                yield self.to_pairs(images, step)
            epoch += 1

    def describe(self) -> dict[str, Any]:
        """What a run records of its loader: its kind, where colour ran, what the images were read from."""
        stored = STORED_FILES
        if self.kind == "ffcv":
            stored = f"a beton (longer side <= {FFCV_MAX_RESOLUTION} px, JPEG q{FFCV_JPEG_QUALITY})"
        beton = str(self.beton or "")
        return {"loader": self.kind, "augment_on": self.augment_on, "beton": beton, "stored": stored}


def resolve_augment_on(augment_on: str, device: torch.device, kind: str) -> str:
    """Where colour runs: `auto` is the device on a GPU, the workers on the CPU; `pil` always the workers."""
    if augment_on not in AUGMENT_ON:
        raise UsageError(f"unknown --augment-on {augment_on!r}; use {', '.join(AUGMENT_ON)}")
    if kind == "pil":
        if augment_on == "device":
            raise UsageError(
                "--loader pil augments on PIL images in the workers; use --augment-on loader/auto"
            )
        return "loader"
    if augment_on == "auto":
        return "device" if device.type == "cuda" else "loader"
    return augment_on


def ffcv_beton_for(root: Path, samples: Samples, beton: Path | None, log: Callable[[str], None]) -> Path:
    """The .beton of `root/train` at the default options: reused if it matches the folder, else written."""
    from mocobench.loading.ffcv_writer import write_beton

    path = beton or ffcv_beton.default_beton(root, "train", FFCV_MAX_RESOLUTION, FFCV_JPEG_QUALITY)
    if ffcv_beton.beton_matches(path, samples, FFCV_MAX_RESOLUTION, FFCV_JPEG_QUALITY):
        return path
    if beton is not None and path.exists():
        raise UsageError(
            f"{path} does not match {root}/train (other images or options); write it again with "
            f"`mocobench data to-ffcv --data {root} --out {path}` or drop --beton"
        )
    log(f"writing {path} (once; FFCV reads it from then on)")
    return write_beton(
        samples,
        path,
        max_resolution=FFCV_MAX_RESOLUTION,
        jpeg_quality=FFCV_JPEG_QUALITY,
        source=str(root / "train"),
    )


def resolve_kind(kind: str, augment_on: str = "device") -> str:
    """`auto` -> ffcv when FFCV is installed, its cache is writable and colour runs on the device, else torch.

    `augment_on` is already resolved. Measured on 2 CPU cores (docs/measured.md): with colour in the
    workers the torch loader is faster than FFCV (284 vs 234 pairs/s at 224 px); with geometry only,
    FFCV's decode-once pipeline is.
    """
    if kind not in LOADERS:
        raise UsageError(f"unknown --loader {kind!r}; use {', '.join(LOADERS)}")
    if kind == "ffcv":
        ffcv_beton.require_ffcv()
    if kind != "auto":
        return kind
    if augment_on != "device" or not ffcv_beton.ffcv_available():
        return "torch"
    try:  # "exists or can be written": the cache folder must be writable
        (mocobench_home() / "ffcv").mkdir(parents=True, exist_ok=True)
    except OSError:
        return "torch"
    return "ffcv"


def choose(kind: str, augment_on: str, device: torch.device) -> tuple[str, str]:
    """(loader, where colour runs) for `--loader kind --augment-on augment_on` on `device`.

    Colour is resolved first (only `pil` constrains it), then the loader, whose `auto` follows the colour.
    """
    if kind not in LOADERS:
        raise UsageError(f"unknown --loader {kind!r}; use {', '.join(LOADERS)}")
    where = resolve_augment_on(augment_on, device, kind)
    return resolve_kind(kind, where), where


def build_two_view_loader(
    spec: TwoViewSpec,
    root: Path,
    samples: Samples,
    classes: list[str],
    seed: int,
    dist: DistInfo,
    options: StepOptions,
    kind: str = "auto",
    augment_on: str = "auto",
    beton: Path | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> TwoViewLoader:
    """The training loader of a contrastive recipe (`spec.batch_size` is the global batch)."""
    requested = kind
    kind, where = choose(kind, augment_on, dist.device)
    view = spec.view_spec()
    if kind == "ffcv" and (view.crop, view.resize) != ("torchvision", "bilinear"):
        if requested == "ffcv":
            raise UsageError(
                f"--loader ffcv crops inside FFCV's compiled loop with torchvision's algorithm; the "
                f"{spec.augmentation} views need {view.crop}'s crop and a {view.resize} resize: "
                "use --loader torch"
            )
        kind = "torch"  # auto: the loader that cuts these views as they are defined
    to_pairs = _pairs_fn(view, kind, where, dist, options)
    if kind == "ffcv":
        from mocobench.loading.ffcv_loader import TwoViewFFCV

        path = ffcv_beton_for(root, samples, beton, log) if dist.is_main else None
        path = broadcast_object(path)
        assert path is not None
        loader = TwoViewFFCV(
            Path(path),
            view,
            spec.batch_size // dist.world_size,
            rank=dist.rank,
            world_size=dist.world_size,
            seed=seed,
            workers=max(spec.workers, 1),
            colour_in_loader=where == "loader",
        )
        return TwoViewLoader(loader, loader.set_epoch, kind, where, to_pairs, Path(path))
    if kind == "pil":
        dataset: Any = FolderDataset(samples, classes, TwoCropsTransform(view_transform(view)), seed)
        init = None
    else:
        from mocobench.loading.two_view import TwoViewFolder, worker_init

        dataset = TwoViewFolder(samples, classes, view, colour_in_workers=where == "loader", seed=seed)
        init = worker_init
    loader, sampler = batched_loader(dataset, spec.batch_size, spec.workers, dist, seed, init)
    return TwoViewLoader(loader, sampler.set_epoch, kind, where, to_pairs)


def _pairs_fn(
    spec: ViewSpec, kind: str, augment_on: str, dist: DistInfo, options: StepOptions
) -> Callable[[Any, int], Pairs]:
    """Batch -> normalised (im_q, im_k) on the device; colour drawn from `draw_seed` when on the device."""
    device = dist.device
    if kind == "pil":  # already normalised float views [q, k]

        def floats(batch: Any, draw_seed: int) -> Pairs:
            return to_input(batch[0], device, options), to_input(batch[1], device, options)

        return floats
    from mocobench.augment.device import DeviceAugment, normalize_uint8

    # uint8 (B, 2, 3, S, S): coloured on the device, or already coloured in the loader.
    colour = DeviceAugment(spec) if augment_on == "device" else None

    def views(batch: Any, draw_seed: int) -> Pairs:
        batch = batch.to(device, non_blocking=True)
        if colour is None:
            q = normalize_uint8(batch[:, 0], spec.mean, spec.std)
            k = normalize_uint8(batch[:, 1], spec.mean, spec.std)
        else:
            g = torch.Generator().manual_seed(draw_seed)  # per step and rank: reproducible, resume-safe
            q, k = colour(batch[:, 0], g), colour(batch[:, 1], g)
        return to_input(q, device, options), to_input(k, device, options)

    return views

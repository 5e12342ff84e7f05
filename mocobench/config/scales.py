"""Scales (`recipes/scales.toml`): the tiers `gpu`, `cpu` and `smoke` shrink a paper-scale recipe alike.

A scale may shrink compute (arch, stem, resolution, epochs, batch, queue, data) but never a row's own knob
(`fields.ROW_KNOBS`) nor the ratio between rows' epochs or batches: it multiplies epochs and batch by one
factor for every recipe, so 200:800 epochs and 256:8192 batches keep their ratio (PAPER.md Tables 1-2).

Some of a tier's rules need the data's size, known only once the data is opened: K as a fraction of the
training images (`moco_k_fraction`, ImageNet's 65536 / 1.28M) and the refusal of a row the tier would make
meaningless (`row_refusal`: a batch above the data, or fewer than `min_steps` steps an epoch). `fit_to_data`
applies both; `scale_facts` states every derived figure (`recipes show --scale X`).
"""

from __future__ import annotations

from typing import Any

from mocobench.config.fields import ROW_KNOBS, check_keys, coerce
from mocobench.config.files import read_toml, recipes_dir
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.runtime.schedule import scale_milestones

SCALES = ("paper", "gpu", "cpu", "smoke")
# A tier renamed: its runs keep their folders and records, read under the new name (one map: `--scale`,
# the result store and the run folders, `results/`, read it).
ALIASES = {"mini": "cpu"}  # issue 14: the CPU tier's name before; its runs are this tier's (same settings)


def current_scale(name: str) -> str:
    """The scale's current name (`mini` -> `cpu`)."""
    return ALIASES.get(name, name)


# Scale keys that are rules rather than field values.
_SCALE_RULES = (
    "description",
    "purpose",
    "epochs_factor",
    "batch_factor",
    "min_batch",
    "min_steps",
    "pipeline_check",
    "detection",
    "voc_trials",
)
IMAGENET_TRAIN = 1_281_167
IMAGENET_K_FRACTION = 65536 / IMAGENET_TRAIN  # 0.0512
BLUR_TOO_SMALL_PX = 0.5  # a Gaussian of sigma below half a pixel leaves a view nearly unchanged


canonical_scale = current_scale  # `scale`, or the current name of a renamed one (`mini` -> `cpu`)


def load_scales() -> dict[str, dict[str, Any]]:
    scales = read_toml(recipes_dir() / "scales.toml")
    for scale, rules in scales.items():
        check_keys([k for k in rules if k not in _SCALE_RULES], f"scales.toml [{scale}]")
        changed = [k for k in rules if k in ROW_KNOBS]
        if changed:
            raise UsageError(f"scales.toml [{scale}] changes a row's knob ({', '.join(changed)}); remove it")
    return scales


def scale_rules(scale: str) -> dict[str, Any]:
    """The rules of one scale in scales.toml; an unknown scale is a UsageError."""
    scales = load_scales()
    scale = canonical_scale(scale)
    if scale not in scales:
        raise UsageError(f"unknown scale {scale!r}; use one of {', '.join(scales)}")
    return scales[scale]


def voc_trials(scale: str) -> int:
    """VOC fine-tunes of each pre-trained model that `reproduce table 1` plans at `scale` by default.

    The paper's VOC figures are "means of 5 trials" of one pre-trained model
    (facebookresearch/moco detection/README.md:61@7397dfe); smaller tiers set fewer (scales.toml says why).
    """
    value = scale_rules(scale).get("voc_trials", 1)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(
            f"scales.toml [{canonical_scale(scale)}] voc_trials = {value!r}; set a whole number >= 1"
        )
    return value


def scaled_length_and_batch(config: dict[str, Any], rules: dict[str, Any]) -> dict[str, Any]:
    """The `epochs`, `schedule`, `batch_size` and `lr` of `config` that a scale's `rules` change.

    Shared by pre-training and the linear protocol, so both shrink alike: epochs by `epochs_factor` with
    step milestones at their fraction of training (120/160 of 200 -> 12/16 of 20), batch by `batch_factor`
    (at least `min_batch`) with the lr linear in the batch (PAPER.md: 0.03 for 256, 0.015 for 128).
    """
    out: dict[str, Any] = {}
    e_factor = float(rules.get("epochs_factor", 1.0))
    if e_factor != 1.0:
        out["epochs"] = max(1, round(config["epochs"] * e_factor))
        out["schedule"] = scale_milestones(config["schedule"], config["epochs"], out["epochs"])
    b_factor = float(rules.get("batch_factor", 1.0))
    if b_factor != 1.0:
        out["batch_size"] = max(int(rules.get("min_batch", 2)), round(config["batch_size"] * b_factor))
        out["lr"] = config["lr"] * out["batch_size"] / config["batch_size"]
    return out


def apply_scale(config: dict[str, Any], scale: str) -> dict[str, Any]:
    """Shrink `config` (a full paper-scale config) to `scale`; see the module docstring for the rules."""
    rules = scale_rules(scale)
    out = dict(config)
    for key, value in rules.items():
        if key not in _SCALE_RULES:
            out[key] = coerce(key, value)
    out.update(scaled_length_and_batch(config, rules))
    out["warmup_epochs"] = config["warmup_epochs"] * out["epochs"] / config["epochs"]
    return out


def fit_moco_k(config: RunConfig, n_train: int) -> int:
    """K of a tier that sets it as a fraction of the data: the nearest multiple of the batch, >= one batch."""
    fraction, batch = float(config.method.moco_k_fraction), int(config.optim.batch_size)
    if fraction <= 0:
        return int(config.method.moco_k)
    return max(batch, round(fraction * n_train / batch) * batch)


def steps_refusal(scale: str, batch: int, n_train: int, where: str) -> str | None:
    """Why `scale` would make a run of `batch` over `n_train` images meaningless (one line), or None.

    `smoke` (pipeline_check) is exempt: there a row only has to run. Elsewhere the batch must fit the data
    and give at least `min_steps` optimizer steps an epoch (drop_last: the last partial batch is dropped).
    """
    rules = scale_rules(scale)
    min_steps = int(rules.get("min_steps", 0))
    if rules.get("pipeline_check") or not min_steps:
        return None
    steps = n_train // batch
    if steps >= min_steps:
        return None
    return (
        f"{where} at --scale {canonical_scale(scale)}: batch {batch} takes {steps} step{'s' * (steps != 1)} "
        f"an epoch over {n_train:,} images (the tier needs >= {min_steps}, i.e. >= {batch * min_steps:,} "
        "images); use a larger dataset (--data cifar10:PATH at --scale gpu) or --scale smoke for a "
        "pipeline check"
    )


def row_refusal(config: RunConfig, n_train: int) -> str | None:
    """`steps_refusal` of a resolved pre-training config."""
    where = f"{config.run.recipe} pre-training"
    return steps_refusal(config.run.scale, int(config.optim.batch_size), n_train, where)


def fit_to_data(config: RunConfig, n_train: int, mean: Any, std: Any) -> RunConfig:
    """`config` with the rules every method shares that need the data: the dataset's normalisation (unless
    set), and the refusal of a meaningless row (a UsageError). A method's own fit (MoCo's K from
    `moco_k_fraction`) is `run/config.py::fit_to_data`'s."""
    refusal = row_refusal(config, n_train)
    if refusal:
        raise UsageError(refusal)
    if config.data.mean:
        return config
    return config.replace(mean=[float(v) for v in mean], std=[float(v) for v in std])


def tier_numbers(config: RunConfig, n_train: int) -> dict[str, Any]:
    """What a tier makes of a row on `n_train` images, as numbers (`recipes show --json`): steps, dropped
    images, blur sigma in px (the aug+ and SimCLR views), and whether the row is refused and why."""
    batch, epochs = int(config.optim.batch_size), int(config.optim.epochs)
    steps = n_train // batch
    refusal = row_refusal(config, n_train)
    out: dict[str, Any] = {
        "training_images": n_train,
        "steps_per_epoch": steps,
        "steps": steps * epochs,
        "images_dropped_per_epoch": n_train - steps * batch,
    }
    if config.data.augmentation in ("aug_plus", "simclr"):
        out["blur_sigma_px"] = [float(v) * int(config.data.image_size) / 224 for v in config.data.blur_sigma]
    out.update(refused=refusal is not None, refusal=refusal)
    return out


def scale_facts(
    config: RunConfig, n_train: int, method_facts: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """What a tier makes of a row on `n_train` images, as (fact, value) lines: steps, dropped images, the
    method's own facts (K/N, the key encoder's time constant, BN groups: `methods/`), blur sigma in px,
    and whether the row is refused (the figures of `tier_numbers`)."""
    numbers = tier_numbers(config, n_train)
    batch, epochs = int(config.optim.batch_size), int(config.optim.epochs)
    steps, dropped = numbers["steps_per_epoch"], numbers["images_dropped_per_epoch"]
    facts = [
        ("training images", f"{n_train:,}"),
        ("steps an epoch", f"{steps} (batch {batch}; {epochs} epochs, {steps * epochs:,} steps in all)"),
        ("images dropped an epoch", f"{dropped:,} ({100 * dropped / max(n_train, 1):.1f}%, drop_last)"),
    ]
    facts += method_facts
    if "blur_sigma_px" in numbers:
        lo, hi = numbers["blur_sigma_px"]
        small = hi < BLUR_TOO_SMALL_PX
        note = " (too small to matter: rows (b)/(c) test mostly the jitter change)" if small else ""
        facts.append(("blur sigma", f"{lo:.3g}-{hi:.3g} px at {config.data.image_size} px{note}"))
    rules = scale_rules(config.run.scale)
    ratio = (
        f"epochs x{rules.get('epochs_factor', 1)}, batch x{rules.get('batch_factor', 1)} "
        "for every row (200:800 and 256:8192 kept)"
    )
    facts.append(("scale rules", ratio))
    refusal = numbers["refusal"]
    if rules.get("pipeline_check"):
        verdict = "runs whatever its steps: smoke is a pipeline check, exempt from min_steps"
    else:
        verdict = f"refused: {refusal}" if refusal else f"meaningful (>= {rules.get('min_steps', 0)} steps)"
    facts.append(("row at this tier", verdict))
    return facts

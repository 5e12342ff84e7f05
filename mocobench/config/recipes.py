"""Recipes: one TOML file per paper row, at paper scale, resolved into the config a run records.

Resolution order: official defaults (`fields.FIELDS`) <- recipe file <- scale (`scales.py`) <- `--set
key=value`, each value typed and checked as it is read (`fields.coerce`). The result is the typed, frozen
`settings.RunConfig`, saved flat (the official MoCo flag names) as config.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mocobench.config.fields import FIELDS, BadValue, check_keys, coerce, suggest
from mocobench.config.files import read_toml, recipes_dir
from mocobench.config.linear import protocol_names
from mocobench.config.paper import row_position
from mocobench.config.scales import apply_scale, canonical_scale
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError

NOT_RECIPES = ("scales.toml",)  # and the linear protocols, linear*.toml, that live beside the recipes


@dataclass(frozen=True)
class PaperRow:
    table: int
    row: str


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    rows: tuple[PaperRow, ...]
    config: dict[str, Any]
    path: Path
    notes: str = ""
    reference: str = ""  # not a paper row: a published small-scale setting (the official CIFAR-10 demo)


def load_recipe(path: Path) -> Recipe:
    data = read_toml(path)
    name = data.get("name", path.stem)
    if name != path.stem:
        raise UsageError(f"{path}: name {name!r} must equal the file name {path.stem!r}")
    config = data.get("config", {})
    check_keys(config, str(path))
    rows = tuple(PaperRow(int(r["table"]), str(r["row"])) for r in data.get("paper", []))
    reference = str(data.get("reference", {}).get("source", ""))
    if not rows and not reference:
        raise UsageError(
            f"{path}: a recipe must name its paper table and row in [[paper]] (or its published source in "
            "[reference])"
        )
    return Recipe(name, data.get("title", name), rows, config, path, data.get("notes", ""), reference)


def all_recipes() -> dict[str, Recipe]:
    folder = recipes_dir()
    paths = [
        p
        for p in sorted(folder.glob("*.toml"))
        if p.name not in NOT_RECIPES and not p.stem.startswith("linear")
    ]
    return {p.stem: load_recipe(p) for p in paths}


def get_recipe(name: str) -> Recipe:
    recipes = all_recipes()
    if name not in recipes:
        raise UsageError(f"unknown recipe {name!r}{suggest(name, recipes)} (list them: mocobench recipes)")
    return recipes[name]


def recipes_for_table(n: int) -> dict[str, str]:
    """Paper row -> the recipe whose `[[paper]]` lists (table n, row)."""
    out: dict[str, str] = {}
    for name, recipe in all_recipes().items():
        for paper_row in recipe.rows:
            if paper_row.table == n:
                out[paper_row.row] = name
    return out


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`["lr=0.1", "cos=true"]` -> typed dict; unknown keys and bad values are UsageErrors."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--set takes key=value, got {pair!r}")
        key, value = (s.strip() for s in pair.split("=", 1))
        if key == "aug_plus":  # the official flag name: a switch between the v1 and aug+ pipelines
            try:
                on = coerce("mlp", value)  # a flag, read as every flag is
            except BadValue:
                raise UsageError(f"--set {pair}: aug_plus takes true or false, not {value!r}") from None
            key, value = "augmentation", "aug_plus" if on else "moco_v1"
        if key not in FIELDS:
            raise UsageError(
                f"unknown --set key {key!r}{suggest(key, FIELDS)} (see: mocobench recipes show NAME)"
            )
        try:
            out[key] = coerce(key, value)
        except BadValue as e:
            raise UsageError(f"--set {pair}: {e}") from e
    return out


def recipe_values(recipe: Recipe) -> dict[str, Any]:
    """The recipe file's settings, typed and checked (`fields.coerce`); a bad one names the file."""
    out: dict[str, Any] = {}
    for key, value in recipe.config.items():
        try:
            out[key] = coerce(key, value)
        except BadValue as e:
            raise UsageError(
                f"{recipe.path}: {e}; edit the recipe or override it with --set {key}=..."
            ) from e
    return out


def scaled(config: dict[str, Any], scale: str) -> dict[str, Any]:
    """`scales.apply_scale`, whose tier values go through `fields.coerce` too; a bad one names its tier."""
    try:
        return apply_scale(config, scale)
    except BadValue as e:
        raise UsageError(f"{recipes_dir() / 'scales.toml'} [{scale}]: {e}") from e


def validate(config: RunConfig) -> None:
    """The checks between fields that every method shares. Each value on its own was checked as it was read
    (`fields.coerce`); each method checks its own settings (`methods/`, asked by `run/config.py::resolve`)."""
    if config.run.linear_protocol not in protocol_names():
        raise UsageError(
            f"linear_protocol {config.run.linear_protocol!r} is not a protocol file; use one of "
            f"{', '.join(protocol_names())}"
        )
    if config.optim.warmup_epochs >= config.optim.epochs:  # runtime/schedule.py::learning_rate: [0, epochs)
        raise UsageError(
            f"warmup_epochs must be below epochs ({config.optim.epochs}), not "
            f"{config.optim.warmup_epochs:g}; "
            "set a shorter --set warmup_epochs=..."
        )
    if bool(config.data.mean) != bool(config.data.std):  # the data's are used only when both are empty
        raise UsageError(
            f"mean {list(config.data.mean)} and std {list(config.data.std)} are set together or not at all; "
            "set both "
            "(--set mean=R,G,B --set std=R,G,B) or neither (the dataset's)"
        )


def resolve(name: str, scale: str = "paper", overrides: list[str] | None = None) -> RunConfig:
    """The full config of recipe `name` at `scale` with `--set` overrides (the checks between fields too;
    a method's own are `run/config.py::resolve`'s)."""
    recipe = get_recipe(name)
    scale = canonical_scale(scale)
    if recipe.reference and scale not in ("paper", "smoke"):
        raise UsageError(
            f"{name} is a published one-GPU setting ({recipe.reference}); run it as published (--scale "
            "paper) or as a pipeline check (--scale smoke)"
        )
    config = {key: spec[1] for key, spec in FIELDS.items()}
    config.update(recipe_values(recipe))
    config = scaled(config, scale)
    sets = parse_overrides(overrides or [])
    if "moco_k" in sets and "moco_k_fraction" not in sets:
        sets["moco_k_fraction"] = 0.0  # an explicit K wins over the tier's fraction of the data
    config.update(sets)
    resolved = RunConfig.from_flat(
        {**config, "recipe": recipe.name, "scale": scale, "reference": recipe.reference,
         "paper_rows": [{"table": r.table, "row": r.row} for r in recipe.rows]}
    )  # fmt: skip
    validate(resolved)
    return resolved


def paper_order(recipe: Recipe) -> tuple[int, int]:
    """Sort key of a recipe: its first paper row's table, then that row's place in the paper's table;
    reference recipes (no paper row) last."""
    if not recipe.rows:
        return 99, 0
    first = recipe.rows[0]
    return first.table, row_position(first.table, first.row)


def listing() -> list[dict[str, str]]:
    """Every recipe at paper scale, in the paper's order, with the knobs that define its row (as text)."""
    rows = []
    for name in (r.name for r in sorted(all_recipes().values(), key=paper_order)):
        c = resolve(name)
        contrastive = c.data.augmentation != "supervised"  # two views, so a temperature
        rows.append(
            {
                "recipe": name,
                "paper table: row": "; ".join(f"{table}: {row}" for table, row in c.run.paper_rows)
                or "reference",
                "mechanism": c.method.mechanism,
                "MLP": "x" if c.method.mlp else "",
                "augmentation": c.data.augmentation,
                "cos": "x" if c.optim.cos else "",
                "T": f"{c.method.moco_t:g}" if contrastive else "-",
                "epochs": str(c.optim.epochs),
                "batch": str(c.optim.batch_size),
                "lr": f"{c.optim.lr:g}",
            }
        )
    return rows

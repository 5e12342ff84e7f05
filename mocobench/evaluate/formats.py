"""The checkpoint layouts of other self-supervised tools, and reading their files as data.

Each `Format` says how to recognise a file (its top-level entries and state_dict keys), where the ResNet
backbone's tensors are (the nested dicts, then the key prefixes tried in order), how its keys map to
torchvision's ResNet names, and which classes its pickle may name. The layouts were read in each tool's
source (docs/checkpoints.md names the file and commit of each).

Reading never runs the file's code. `.safetensors` holds tensors only. Every other file is unpickled with
`torch.load(weights_only=True)`; a class the format's pickles are known to carry (Lightning's and omegaconf's
hyper-parameters, mmengine's message hub, numpy scalars, timm's argparse.Namespace) is replaced by `Inert`, a
stand-in that keeps the pickle's arguments and runs nothing: the real class is never imported. A file naming
anything else (a function such as `os.system`, a class of another tool) is refused unless `trust`
(`--trust-checkpoint`), which loads it with Python's full unpickler.
"""

from __future__ import annotations

import contextlib
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mocobench.errors import UsageError
from mocobench.runtime.checkpoint import TRUST_HINT

State = dict[str, Any]

# torchvision's ResNet children in order: what `nn.Sequential(*list(resnet.children())[:-1])` numbers them
# (lightly's examples build their backbones so); 2 relu, 3 maxpool and 8 avgpool hold no tensors.
SEQUENTIAL_RESNET = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}

NUMPY = (
    "numpy.",
    "collections.defaultdict",
)  # numpy scalars and dtypes (mmengine's meta, VISSL's loss state)
LIGHTNING = ("pytorch_lightning.", "lightning.", "lightning_fabric.", "omegaconf.", "typing.Any")
# builtin types a pickled omegaconf node names (its ref_type / object_type)
BUILTIN_TYPES = tuple(
    f"builtins.{t}" for t in ("dict", "list", "tuple", "str", "int", "float", "bool", "object")
)


def _keys(state: State) -> list[str]:
    return [k for k in state if isinstance(k, str)]


def _starts(state: State, *prefixes: str) -> bool:
    return any(k.startswith(prefixes) for k in _keys(state))


def _lightning(top: State) -> bool:
    return "state_dict" in top and ("pytorch-lightning_version" in top or "global_step" in top)


def _sequential(key: str) -> str:
    head, _, rest = key.partition(".")
    return f"{SEQUENTIAL_RESNET[head]}.{rest}" if head in SEQUENTIAL_RESNET else key


@dataclass(frozen=True)
class Format:
    name: str
    title: str  # for linear.json's "source"
    detect: Callable[[State, State], bool]  # (the file's top-level dict, its state dict) -> is it this?
    prefixes: tuple[str, ...]  # where the backbone's keys start in the state dict, tried in order
    nest: tuple[str, ...] = ()  # dict keys from the top to the state dict; () = state_dict, model, or the top
    rename: Callable[[str], str] | None = None  # a backbone key (prefix removed) -> torchvision's name
    heads: tuple[str, ...] = ("fc.",)  # keys under the prefix that are not the backbone (dropped)
    pickled: tuple[str, ...] = ()  # module prefixes / names its pickles may name (read as `Inert`)


FORMATS: tuple[Format, ...] = (
    Format(
        "mocobench",
        "mocobench checkpoint",
        lambda top, sd: "mocobench" in top,
        ("module.encoder_q.", "encoder_q.", "module.encoder.", "encoder."),
        nest=("state_dict",),
    ),
    Format(
        "vissl",
        "VISSL checkpoint",
        lambda top, sd: "classy_state_dict" in top,
        ("_feature_blocks.",),
        nest=("classy_state_dict", "base_model", "model", "trunk"),
        pickled=(*NUMPY, "vissl.", "classy_vision.", "fvcore."),
    ),
    Format(
        "lightly",
        "lightly checkpoint (PyTorch Lightning)",
        lambda top, sd: (
            _lightning(top)
            and _starts(sd, "backbone.0.", "projection_head.", "online_classifier.", "backbone_momentum.")
        ),
        ("backbone.",),
        nest=("state_dict",),
        rename=_sequential,
        pickled=(*LIGHTNING, *BUILTIN_TYPES, *NUMPY),
    ),
    Format(
        "solo-learn",
        "solo-learn checkpoint (PyTorch Lightning)",
        lambda top, sd: _lightning(top) and _starts(sd, "backbone."),
        ("backbone.",),
        nest=("state_dict",),
        pickled=(*LIGHTNING, *BUILTIN_TYPES, *NUMPY, "solo."),
    ),
    Format(
        "mmselfsup",
        "mmselfsup/mmpretrain checkpoint",
        lambda top, sd: (
            "state_dict" in top
            and ("meta" in top or top.get("author") == "MMSelfSup")
            and (_starts(sd, "backbone.") or top.get("author") == "MMSelfSup")
        ),
        ("backbone.", ""),
        nest=("state_dict",),
        pickled=(*NUMPY, "mmengine.", "mmcv.", "mmselfsup.", "mmpretrain.", "mmcls."),
    ),
    Format(
        "moco-v3",
        "MoCo v3 checkpoint (official layout)",
        lambda top, sd: _starts(sd, "module.base_encoder.", "base_encoder."),
        ("module.base_encoder.", "base_encoder."),
        nest=("state_dict",),
    ),
    Format(
        "moco",
        "MoCo checkpoint (official layout)",
        lambda top, sd: _starts(sd, "module.encoder_q.", "encoder_q."),
        ("module.encoder_q.", "encoder_q."),
        nest=("state_dict",),
    ),
    Format(
        "timm",
        "timm checkpoint",
        lambda top, sd: "state_dict" in top and ("version" in top or "state_dict_ema" in top),
        ("module.", ""),
        pickled=("argparse.Namespace",),
    ),
    Format(  # also timm's released weights and supervised runs (DDP's `module.`): the same names
        "torchvision",
        "ResNet state_dict",
        lambda top, sd: True,
        ("module.encoder.", "encoder.", "module.", ""),
    ),
)
BY_NAME = {f.name: f for f in FORMATS}
NAMES = ", ".join(BY_NAME)


def get_format(name: str) -> Format:
    if name not in BY_NAME:
        raise UsageError(f"--format {name} is not a checkpoint format; use one of {NAMES}")
    return BY_NAME[name]


# --- reading a file as data ---------------------------------------------------------------------------


class Inert:
    """Stands in for a class a checkpoint's pickle names: keeps what the pickle hands it, runs nothing."""

    name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Inert:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<inert {self.name}>"


def _plain_dict(*args: Any) -> dict:
    """collections.defaultdict read as a plain dict (its default factory, itself a global, never called)."""
    return {}


DICTS = {
    "collections.defaultdict": _plain_dict
}  # the pickle fills these with SETITEMS: a dict must take them
_INERT: dict[str, Callable[..., Any]] = {}


def inert(name: str) -> Callable[..., Any]:
    """The one stand-in for the global `name` (module.qualname)."""
    if name not in _INERT:
        _INERT[name] = DICTS.get(name) or type(f"Inert[{name}]", (Inert,), {"name": name})
    return _INERT[name]


def allowed(name: str, formats: tuple[Format, ...]) -> bool:
    return any(name == p or (p.endswith(".") and name.startswith(p)) for f in formats for p in f.pickled)


# torch names the global it refused: "GLOBAL x was not an allowed global" (zip), "... whose module" (legacy)
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


@dataclass
class Read:
    obj: Any
    stubbed: tuple[str, ...]  # the globals read as `Inert`


def read_file(path: Path, trust: bool = False, formats: tuple[Format, ...] = FORMATS) -> Read:
    """The content of `path` as data: safetensors, or a pickle whose globals all are `formats`' inert ones."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return Read(load_file(str(path), device="cpu"), ())
        except Exception as e:
            raise _unreadable(path, e) from e
    if trust:
        try:
            return Read(torch.load(path, map_location="cpu", weights_only=False), ())
        except Exception as e:
            raise _unreadable(path, e) from e
    names: list[str] = []
    with contextlib.suppress(Exception):  # the zip format lists its globals without unpickling them
        names = [n for n in torch.serialization.get_unsafe_globals_in_checkpoint(path) if n]
    _refuse_unless_allowed(path, names, formats)
    for _ in range(200):
        try:
            with torch.serialization.safe_globals([(inert(n), n) for n in names]):
                obj = torch.load(path, map_location="cpu", weights_only=True)
            return Read(obj, tuple(names))
        except pickle.UnpicklingError as e:
            found = _GLOBAL.search(str(e))
            if not found or found.group(1) in names:
                raise _unreadable(path, e) from e
            _refuse_unless_allowed(path, [found.group(1)], formats)
            names.append(found.group(1))
        except Exception as e:  # a truncated or foreign file: say which
            raise _unreadable(path, e) from e
    raise UsageError(f"{path} names too many classes to read as data; {TRUST_HINT}")


_PLAIN = ("builtins", "collections", "typing")  # named after the classes that say what the file is


def _refuse_unless_allowed(path: Path, names: list[str], formats: tuple[Format, ...]) -> None:
    """Refuse every global no format allows, named in a fixed order (torch lists them in no set order):
    the telling ones (omegaconf, mmengine, ...) before builtins, at most three."""
    refused = sorted(
        {n for n in names if not allowed(n, formats)}, key=lambda n: (n.split(".")[0] in _PLAIN, n)
    )
    if refused:
        which = "the format " + formats[0].name if len(formats) == 1 else "any known checkpoint format"
        shown = ", ".join(refused[:3]) + (", ..." if len(refused) > 3 else "")
        raise UsageError(
            f"{path} holds more than tensors and plain data (GLOBAL {shown}, not {which}'s); {TRUST_HINT}"
        )


def _unreadable(path: Path, e: BaseException) -> UsageError:
    return UsageError(
        f"cannot read checkpoint {path} ({type(e).__name__}); pass a valid .pth/.ckpt/.torch/.safetensors"
    )


# --- the backbone of a read checkpoint ------------------------------------------------------------------


def state_dict_of(obj: Any, fmt: Format) -> State:
    """The dict `fmt.nest` leads to (or, without a nest, `state_dict`, `model`, or the top itself)."""
    node = obj
    if fmt.nest:
        for key in fmt.nest:
            if not isinstance(node, dict) or key not in node:
                return {}
            node = node[key]
    elif isinstance(node, dict):
        node = node.get("state_dict", node.get("model", node))
    return node if isinstance(node, dict) else {}


def detect(obj: Any) -> Format:
    """The first format whose test the file passes (torchvision, the last, takes any dict)."""
    if not isinstance(obj, dict):
        return BY_NAME["torchvision"]
    for fmt in FORMATS:
        sd = state_dict_of(obj, fmt)
        if fmt.detect(obj, sd):
            return fmt
    return BY_NAME["torchvision"]


def backbone(obj: Any, fmt: Format) -> tuple[dict[str, torch.Tensor], str] | None:
    """The backbone's tensors in torchvision's names (heads dropped) and the prefix they were found under;
    None where no prefix of `fmt` holds a conv1."""
    sd = state_dict_of(obj, fmt)
    for prefix in fmt.prefixes:
        picked = {k[len(prefix) :]: v for k, v in sd.items() if isinstance(k, str) and k.startswith(prefix)}
        picked = {k: v for k, v in picked.items() if torch.is_tensor(v) and "." in k}
        if fmt.rename is not None:
            picked = {fmt.rename(k): v for k, v in picked.items()}
        if any(k.startswith("conv1.") for k in picked):
            return {k: v for k, v in picked.items() if not k.startswith(fmt.heads)}, prefix
    return None

"""Pickled dataset files read as data: Python's unpickler, but its `find_class` resolves only an allow-list.

A pickle is a program: each global it names is imported and may be called (`__reduce__`), so a CIFAR batch
from an untrusted mirror read with `pickle.load` runs whatever it carries. Here every global goes through
`find_class`, which hands back an object from the allow-list a format's published files need and refuses
any other name before anything is imported or called. Plain containers, strings, bytes and ints are opcodes
of their own and never reach `find_class`; a persistent id fails (no `persistent_load`), and so does an
extension code (copyreg's registry is empty: neither mocobench nor its dependencies register one).

`NUMPY_ARRAYS` is what a pickled ndarray needs: `_reconstruct(ndarray, shape, dtype)`, then `dtype(...)`
and the two objects' `__setstate__`. CIFAR's pickles (protocol 2, Python 2, numpy 1.x) name it under
`numpy.core.multiarray`, numpy >= 2 under `numpy._core.multiarray`; datumaro's restricted CIFAR reader
allows the same three names, checked on the original CIFAR-10/100 files
(https://github.com/open-edge-platform/datumaro/pull/362). The names map to the objects here, so even an
allowed name never imports a module by the file's say.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's reconstructor, wherever numpy 1 or 2 keeps it

NUMPY_ARRAYS: Mapping[str, Any] = MappingProxyType(
    {
        "numpy.core.multiarray._reconstruct": _RECONSTRUCT,  # numpy 1.x: the name in CIFAR's pickles
        "numpy._core.multiarray._reconstruct": _RECONSTRUCT,  # numpy >= 2
        "numpy.ndarray": np.ndarray,
        "numpy.dtype": np.dtype,
    }
)

# What a damaged (not hostile) pickle raises while loading: truncated or garbled opcodes, wrong arguments to
# an allowed callable, a memo index out of range, a length field larger than memory.
UNREADABLE: tuple[type[BaseException], ...] = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    LookupError,
    ArithmeticError,
    MemoryError,
)


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list; nothing it names was imported or called."""

    def __init__(self, name: str) -> None:
        super().__init__(f"refused global {name}")
        self.name = name


class _DataUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, allowed: Mapping[str, Any], encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full in self._allowed:
            return self._allowed[full]
        raise RefusedGlobal(full)


def read(path: Path, allowed: Mapping[str, Any] = NUMPY_ARRAYS, encoding: str = "latin1") -> Any:
    """The object pickled in `path`, every global it names looked up in `allowed` (full dotted name ->
    object). Raises `RefusedGlobal` for any other global, else one of `UNREADABLE` for a damaged file.

    `encoding` decodes Python 2 str: "latin1" (torchvision's) gives str keys and leaves numpy's raw bytes
    intact, "bytes" (the CIFAR page's loader) gives bytes."""
    with open(path, "rb") as f:
        return _DataUnpickler(f, allowed, encoding).load()

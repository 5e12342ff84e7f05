"""Detectron2 is the detection engine; where it is missing, say how to install it (one line, exit 2)."""

from __future__ import annotations

import importlib
import warnings

from mocobench.errors import UsageError

INSTALL = (
    "pip install --no-deps --only-binary=:all: --python-version 3.10 --target "
    '"$(python -c \'import sysconfig; print(sysconfig.get_paths()["purelib"])\')" sal-detectron2==0.7.2 '
    "&& pip install 'mocobench[detection]' (or run make venv in the repo)"
)


def require_detectron2() -> None:
    """Import Detectron2 once, quietly (its imports warn about deprecated torch APIs), or explain the fix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            importlib.import_module("detectron2.engine")
        except ImportError as e:
            raise UsageError(
                f"detect-voc needs Detectron2, which is not importable ({e}); install it: {INSTALL}"
            ) from e

"""Gathering, on a machine with network, the wheels a GPU node with no network lacks.

A CUDA image that ships torch (and numpy, pandas, pyyaml, matplotlib, ...) usually lacks kornia,
submitit, platformdirs and Detectron2 with its pure-Python dependencies. `fetch_wheels` downloads them at
the versions this environment has (so the node runs what was tested here): cp312 manylinux wheels, the few
sdist-only ones built here into pure-Python wheels, Detectron2 as PyPI's `sal-detectron2` cp310 wheel.
Copy the folder to the node beside the checkout; the check installs it there (`setup.install_wheels`).
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import zipfile
from pathlib import Path

OFFLINE_MISSING = (
    "kornia",
    "kornia_rs",
    "submitit",
    "platformdirs",
    "fvcore",
    "iopath",
    "pycocotools",
    "yacs",
    "omegaconf",
    "hydra-core",
    "antlr4-python3-runtime",
    "termcolor",
)
DETECTRON2_DIST = "sal-detectron2"  # tagged cp310 only: fetched and installed as Python 3.10's
NODE_PYTHON = "3.12"  # the offline node's Python, which the wheels are fetched for
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def wheel_project(path: Path) -> str:
    """A wheel file's normalised project name (`Foo.Bar-1.0-...whl` -> `foo_bar`)."""
    return re.sub(r"[-_.]+", "_", path.name.split("-")[0]).lower()


def requirements(wheel: Path) -> list[str]:
    """Normalised names of a wheel's Requires-Dist for Python 3.12 (extras and old-Python backports out)."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode("utf-8", "replace").splitlines()
    names = []
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        spec, _, marker = line.split(":", 1)[1].partition(";")
        if "extra" in marker or re.search(r"python_version\s*(<|==)\s*['\"]3\.[0-9]['\"]", marker):
            continue
        names.append(re.sub(r"[-_.]+", "_", re.split(r"[\s<>=!~\[(]", spec.strip())[0]).lower())
    return names


def _download_or_build(name: str, version: str, dest: Path) -> str:
    """Put `name==version`'s wheel in `dest`: "" when done, else why it could not be."""
    project = re.sub(r"[-_.]+", "_", name).lower()
    for old in dest.glob("*.whl"):  # two versions of one package stop the whole install
        if wheel_project(old) == project and old.name.split("-")[1] != version:
            old.unlink()
    python = "3.10" if name == DETECTRON2_DIST else NODE_PYTHON
    platforms = [a for p in PLATFORMS for a in ("--platform", p)]
    download = [
        sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
        "--python-version", python, "--implementation", "cp", *platforms, "-d", str(dest),
        f"{name}=={version}",
    ]  # fmt: skip
    if subprocess.run(download, capture_output=True, text=True).returncode == 0:
        return ""
    # no wheel on the index (fvcore, iopath, antlr4 are sdists): build one here, pure Python only
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), f"{name}=={version}"]
    done = subprocess.run(build, capture_output=True, text=True)
    built = [w for w in dest.glob("*.whl") if wheel_project(w) == project]
    if done.returncode or not built or not all(w.name.endswith("-py3-none-any.whl") for w in built):
        return (
            f"{name}=={version}: no wheel for Python {python}, and none pure Python could be built\n"
            f"{done.stderr[-2000:]}"
        )
    return ""


def fetch_wheels(dest: Path) -> int:
    """Download (here, with network) the wheels an offline GPU node lacks, at this environment's versions."""
    pins = {}
    for name in (*OFFLINE_MISSING, DETECTRON2_DIST):
        try:
            pins[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            print(f"{name} is not installed in {sys.executable}: run this with the repo's .venv/bin/python")
            return 2
    dest.mkdir(parents=True, exist_ok=True)
    for name, version in pins.items():
        problem = _download_or_build(name, version, dest)
        if problem:
            print(problem)
            return 1
    wheels = sorted(dest.glob("*.whl"))
    total = sum(w.stat().st_size for w in wheels) / 2**20
    for w in wheels:
        print(f"{w.stat().st_size / 2**20:6.2f} MiB  {w.name}")
    print(f"{total:6.2f} MiB in all, {len(wheels)} wheels in {dest}")
    carried = {wheel_project(w) for w in wheels}
    needed = sorted({r for w in wheels for r in requirements(w)} - carried)
    print(f"their requirements not carried (the node's Python must have them): {', '.join(needed)}")
    print(
        f"copy {dest} to the node beside the checkout, then run there: "
        f"python3 -m mocobench check --device cuda --wheels {dest}"
    )
    return 0

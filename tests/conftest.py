"""Shared fixtures: a tiny generated dataset (seconds to write) and an isolated cache/recipes environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mocobench.data.synth import SynthSpec, write_classification

torch.set_num_threads(1)  # tests run two at a time on two cores

TINY = SynthSpec(seed=0, image_size=32, train_per_class=4, val_per_class=2)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 classes x (4 train + 2 val) images of 32 px, in the ImageNet layout."""
    return write_classification(tmp_path_factory.mktemp("data") / "tiny", TINY)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCOBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MOCOBENCH_RUNS", str(tmp_path / "runs"))


REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files holding a `slow` test first, the rest in their order: under `-n 2 --dist loadfile` a long
    file then starts while short ones fill the other worker, instead of running alone at the end. The order
    is a function of the code alone, so every worker collects the same list."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: the order within each part is kept


@pytest.fixture(scope="session")
def paper_md() -> str:
    """PAPER.md (the project's digest of the paper: $MOCOBENCH_PAPER_MD, ../shared/, /work/shared/).

    The tests that check our numbers against it skip where it is absent (a clone outside the workspace).
    """
    import os

    candidates = [
        os.environ.get("MOCOBENCH_PAPER_MD", ""),
        REPO / "PAPER.md",
        REPO.parent / "shared" / "PAPER.md",
        "/work/shared/PAPER.md",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text(encoding="utf-8")
    pytest.skip("PAPER.md not found (set MOCOBENCH_PAPER_MD to check against it)")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """Run `mocobench ARGS...` through main() (exit codes as a user sees them): (code, stdout, stderr)."""
    import sys

    from mocobench.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["mocobench", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        captured = capsys.readouterr()
        code = exit_info.value.code
        return (0 if code is None else int(code)), captured.out, captured.err

    return run

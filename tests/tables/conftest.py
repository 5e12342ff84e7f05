"""Fixture result stores for the table tests (helpers in table_stores.py)."""

from __future__ import annotations

import pytest
from table_stores import FakeStore, make, mixed_runs


@pytest.fixture
def store() -> FakeStore:
    return make(*mixed_runs())


@pytest.fixture
def empty_store() -> FakeStore:
    return make([], [])


@pytest.fixture(autouse=True)
def _in_empty_folder(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test in an empty working directory: the default runs and tables folders are relative to it."""
    monkeypatch.chdir(tmp_path)

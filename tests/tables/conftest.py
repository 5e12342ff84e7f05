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

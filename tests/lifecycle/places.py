"""Fixtures: storages of each phase on real local rclone remotes (``gas``, ``liquid``, ``solid``),
for every test of the lifecycle, its pages and its admin. Registered in ``tests/conftest.py``."""

from __future__ import annotations

import pytest

from tests.lifecycle.helpers import Place, local_place


@pytest.fixture
def gas(tmp_path) -> Place:
    return local_place(tmp_path, "gas", "GAS")


@pytest.fixture
def liquid(tmp_path) -> Place:
    return local_place(tmp_path, "liquid", "LIQUID")


@pytest.fixture
def solid(tmp_path) -> Place:
    return local_place(tmp_path, "solid", "SOLID")

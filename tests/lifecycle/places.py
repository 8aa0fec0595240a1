"""Fixtures: storages of each phase on real local rclone remotes (``gas``, ``liquid``, ``solid``),
and ``place_on`` (a test run once on local directories and once on S3), for every test of the
lifecycle, its pages and its admin. Registered in ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.lifecycle.helpers import Place, local_place, s3_place


@pytest.fixture
def gas(tmp_path) -> Place:
    return local_place(tmp_path, "gas", "GAS")


@pytest.fixture
def liquid(tmp_path) -> Place:
    return local_place(tmp_path, "liquid", "LIQUID")


@pytest.fixture
def solid(tmp_path) -> Place:
    return local_place(tmp_path, "solid", "SOLID")


@pytest.fixture(params=["local", "s3"])
def place_on(request, tmp_path) -> Callable[[str, str], Place]:
    """``place_on(name, phase)``: a storage on a local directory, or (the test's second run) on the
    S3 test server."""
    if request.param == "local":
        return lambda name, phase: local_place(tmp_path, name, phase)
    server = request.getfixturevalue("s3_server")
    return lambda name, phase: s3_place(server, name, phase)

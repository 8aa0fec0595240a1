"""Shared fixtures: accounts with each role and their API tokens, and an API caller."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client

from accounts.roles import Role
from accounts.tokens import account_ensure, api_token_create

# Fixtures through which a test reaches the test database of its run.
_DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


def pytest_collection_modifyitems(config, items):
    """An ``own_database`` test runs DLM on a SQLite file of its own, so CI runs it in one of its
    two database passes only: it must not touch the run's test database, or that pass would lose it."""
    for item in items:
        if item.get_closest_marker("own_database") and (
            item.get_closest_marker("django_db") or _DATABASE_FIXTURES & set(item.fixturenames)
        ):
            raise pytest.UsageError(f"{item.nodeid} is marked own_database but uses the test database")


class Api:
    """Calls the API as a client would: scalars in the query string, a raw JSON body."""

    def __init__(self, client: Client, token: str | None) -> None:
        self.client = client
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        *,
        raw_body: bytes | str | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        url = path + ("?" + urlencode(params, doseq=True) if params else "")
        data = raw_body if raw_body is not None else (json.dumps(body) if body is not None else "")
        meta = dict(extra)
        if self.token:
            meta["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        for name, value in (headers or {}).items():
            meta["HTTP_" + name.upper().replace("-", "_")] = value
        return self.client.generic(method, url, data=data, content_type=content_type, **meta)

    def get(self, path: str, params: dict[str, Any] | None = None, **kw: Any):
        return self.call("GET", path, params, **kw)

    def post(self, path: str, params: dict[str, Any] | None = None, body: Any = None, **kw: Any):
        return self.call("POST", path, params, body, **kw)

    def patch(self, path: str, params: dict[str, Any] | None = None, body: Any = None, **kw: Any):
        return self.call("PATCH", path, params, body, **kw)


def simultaneously(call: Callable[[], Any]) -> list:
    """``call`` twice, released at the same instant, each on its own thread and database
    connection; the two results (for tests of what two racing writers leave behind)."""
    barrier = threading.Barrier(2)
    results: list = []

    def one() -> None:
        barrier.wait()
        try:
            results.append(call())
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def race(token: str, call: Callable[[Api], Any]) -> list:
    """Two API calls released at the same instant, each with its own client (``simultaneously``);
    their responses."""
    return simultaneously(lambda: call(Api(Client(), token)))


def _token_for(username: str, role: Role) -> str:
    user = account_ensure(username=username, role=role)
    return api_token_create(user=user)[1]


@pytest.fixture
def make_api(db) -> Callable[[str | None], Api]:
    """``make_api(role)``: an API caller holding a token of an account with that role (None: no token)."""

    def make(role: str | None) -> Api:
        token = _token_for(f"{role}-user", Role(role)) if role else None
        return Api(Client(), token)

    return make


@pytest.fixture
def api(make_api) -> Api:
    """An API caller with the admin role (every operation allowed)."""
    return make_api("admin")


@pytest.fixture
def viewer_api(make_api) -> Api:
    return make_api("viewer")


@pytest.fixture
def operator_api(make_api) -> Api:
    return make_api("operator")


@pytest.fixture
def anon_api(db) -> Api:
    return Api(Client(), None)


pytest_plugins = ["tests.storage_servers", "tests.oidc_provider", "tests.lifecycle.places"]

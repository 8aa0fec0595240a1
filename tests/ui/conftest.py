"""Helpers for the web UI's tests: browsers logged in with a role, and one not logged in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from accounts.roles import Role
from accounts.tokens import account_ensure


@pytest.fixture
def make_ui_client(db) -> Callable[[str | None], Client]:
    """``make_ui_client(role)``: a browser logged in (by session) as an account holding ``role``
    (``"viewer"``, ``"operator"`` or ``"admin"``); ``None``: an account without a role."""

    def make(role: str | None) -> Client:
        user = account_ensure(username=f"ui-{role or 'no-role'}", role=Role(role) if role else None)
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def anon_client(db) -> Client:
    """A browser that is not logged in."""
    return Client()

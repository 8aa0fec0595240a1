"""An unknown path answers the contract's JSON 404 whatever the method and credentials, before any
CSRF check; the web UI's real forms keep theirs."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.roles import Role
from accounts.tokens import account_ensure, api_token_create
from catalogue.models import Location

pytestmark = pytest.mark.django_db

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
UNKNOWN = [
    "/x/y",
    "/x/y/",  # a trailing slash on an unknown path is no redirect: there is nothing to redirect to
    "/storage/no_such_operation",
    "/ingest/register_data_item/extra",
    "/static/no-such-file.css",
    "/oidc/no-such-page",
]


def _call(method: str, path: str, **meta):
    # A browser-like client: Django's test client skips CSRF checks unless told not to.
    return Client(enforce_csrf_checks=True).generic(method, path, data="{}", content_type="application/json", **meta)


def _assert_contract_404(response) -> None:
    assert response.status_code == 404, response.content[:200]
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not Found"}


@pytest.mark.parametrize("path", UNKNOWN)
@pytest.mark.parametrize("method", METHODS)
def test_an_unknown_path_is_a_json_404_without_credentials(method, path):
    _assert_contract_404(_call(method, path))


@pytest.mark.parametrize("path", UNKNOWN)
@pytest.mark.parametrize("method", METHODS)
def test_an_unknown_path_is_a_json_404_with_a_valid_token(method, path):
    _, token = api_token_create(user=account_ensure(username="unknown-paths", role=Role.ADMIN))
    _assert_contract_404(_call(method, path, HTTP_AUTHORIZATION=f"Bearer {token}"))


@pytest.mark.parametrize("method", METHODS)
def test_an_unknown_path_is_a_json_404_with_a_bad_token(method):
    _assert_contract_404(_call(method, "/x/y", HTTP_AUTHORIZATION="Bearer not-a-token"))


@pytest.mark.parametrize("method", METHODS)
def test_an_unknown_path_is_a_json_404_for_a_logged_in_browser_without_a_csrf_token(method):
    client = Client(enforce_csrf_checks=True)
    client.force_login(account_ensure(username="ui-admin", role=Role.ADMIN))
    _assert_contract_404(client.generic(method, "/x/y", HTTP_ACCEPT="text/html"))


@pytest.mark.parametrize("method", METHODS)
def test_a_known_path_with_a_trailing_slash_still_redirects_307_without_a_csrf_token(method):
    response = _call(method, "/storage/query_storage/?storage_name=x")
    assert response.status_code == 307
    assert response["Location"] == "/storage/query_storage?storage_name=x"


def test_a_ui_form_posted_without_a_csrf_token_is_still_refused():
    client = Client(enforce_csrf_checks=True)
    client.force_login(account_ensure(username="ui-admin", role=Role.ADMIN))
    form = {"location_name": "csrf-less", "location_type": "local-dev"}

    response = client.post("/locations/new", form)

    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert not Location.objects.filter(location_name="csrf-less").exists()


def test_the_login_form_posted_without_a_csrf_token_is_still_refused():
    account_ensure(username="ui-admin", role=Role.ADMIN)

    response = Client(enforce_csrf_checks=True).post("/login", {"username": "ui-admin", "password": "x"})

    assert response.status_code == 403
    assert b"CSRF" in response.content

"""Logging in without an OpenID provider (Django's own form), /token_by_auth_flow, the tokens page
and API, /token_by_username_password and /scope."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from accounts.models import TokenInfo
from accounts.roles import Role
from accounts.tokens import account_ensure, api_token_create
from tests.conftest import Api

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
TOKEN_RE = re.compile(r'<code class="token" id="token">([0-9a-f]{64})</code>')


@pytest.fixture
def alice():
    user = account_ensure(username="alice", role=Role.OPERATOR)
    user.set_password(PASSWORD)
    user.save()
    return user


def _login(client: Client, username: str = "alice", password: str = PASSWORD, next_url: str = "/tokens"):
    page = client.get(f"/login?next={next_url}")
    assert page.status_code == 200 and b'name="password"' in page.content
    return client.post("/login", {"username": username, "password": password, "next": next_url})


# --- /token_by_auth_flow without a provider -----------------------------------------------------


def test_a_logged_out_browser_is_sent_to_the_login_form_and_back(alice, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client()
    first = client.get("/token_by_auth_flow")
    assert first.status_code == 302 and first["Location"] == "/login?next=/token_by_auth_flow"

    logged_in = _login(client, next_url="/token_by_auth_flow")
    assert logged_in.status_code == 302 and logged_in["Location"] == "/token_by_auth_flow"
    page = client.get("/token_by_auth_flow")
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    token = TOKEN_RE.search(page.content.decode()).group(1)
    assert b"shown <strong>only this once</strong>" in page.content and b"Copy token" in page.content

    # The token works against the API, as the account, with its role.
    api = Api(Client(), token)
    assert api.get("/storage/query_storage").status_code == 200
    assert api.post("/storage/init_location", {"location_name": "x", "location_type": "local-dev"}).status_code == 403
    row = AuthToken.objects.get(user=alice)
    assert row.info.source == TokenInfo.Source.LOGIN and row.info.name
    expected_expiry = timezone.now() + django_settings.API_TOKEN_TTL
    assert abs((row.expiry - expected_expiry).total_seconds()) < 60
    assert token not in caplog.text and PASSWORD not in caplog.text


def test_token_by_auth_flow_answers_the_bare_json_string_to_a_json_client(alice):
    client = Client()
    _login(client)
    response = client.get("/token_by_auth_flow", HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    token = response.json()
    assert isinstance(token, str) and len(token) == 64
    assert Api(Client(), token).get("/request/query_data_item", {"item_name": "none"}).status_code == 200


def test_wrong_password_stays_on_the_form_with_a_message(alice):
    client = Client()
    response = _login(client, password="wrong")
    assert response.status_code == 200 and b"did not match" in response.content
    assert client.get("/token_by_auth_flow").status_code == 302
    assert not AuthToken.objects.exists()


def test_tokens_are_stored_hashed(alice):
    client = Client()
    _login(client)
    token = client.get("/token_by_auth_flow", HTTP_ACCEPT="application/json").json()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM knox_authtoken")
        rows = cursor.fetchall()
        cursor.execute("SELECT * FROM api_token_info")
        rows += cursor.fetchall()
    assert rows and token not in repr(rows)


# --- the tokens page ----------------------------------------------------------------------------


def test_tokens_page_needs_a_login():
    response = Client().get("/tokens")
    assert response.status_code == 302 and response["Location"].startswith("/login?next=/tokens")


def test_tokens_page_creates_shows_once_lists_and_revokes(alice):
    client = Client()
    _login(client)
    created = client.post("/tokens", {"action": "create", "name": "pipeline on node 7", "days": "3"})
    assert created.status_code == 200
    token = TOKEN_RE.search(created.content.decode()).group(1)
    row = AuthToken.objects.get(user=alice)
    assert row.info.name == "pipeline on node 7" and row.info.source == TokenInfo.Source.PAGE
    assert abs((row.expiry - (timezone.now() + timedelta(days=3))).total_seconds()) < 60

    listing = client.get("/tokens").content.decode()
    assert "pipeline on node 7" in listing and row.token_key in listing and token not in listing

    api = Api(Client(), token)
    assert api.get("/storage/query_storage").status_code == 200
    revoked = client.post("/tokens", {"action": "revoke", "token_id": row.token_key}, follow=True)
    assert "revoked" in revoked.content.decode()
    assert api.get("/storage/query_storage").status_code == 401  # at once, in this process
    assert not AuthToken.objects.exists()


def test_tokens_page_shows_the_same_errors_as_the_api(alice):
    client = Client()
    _login(client)
    response = client.post("/tokens", {"action": "create", "name": "n", "days": "0"}, follow=True)
    assert "days" in response.content.decode() and not AuthToken.objects.exists()
    response = client.post("/tokens", {"action": "create", "name": "x" * 101}, follow=True)
    assert "name: at most 100 characters" in response.content.decode() and not AuthToken.objects.exists()


def test_a_user_cannot_revoke_someone_elses_token_on_the_page(alice):
    _, other_token = api_token_create(user=account_ensure(username="bob", role=Role.VIEWER))
    other = AuthToken.objects.get(user__username="bob")
    client = Client()
    _login(client)
    response = client.post("/tokens", {"action": "revoke", "token_id": other.token_key}, follow=True)
    assert "No token" in response.content.decode()
    assert Api(Client(), other_token).get("/storage/query_storage").status_code == 200


# --- the tokens API -----------------------------------------------------------------------------


def test_tokens_api_lists_creates_and_revokes_own_tokens(make_api):
    api = make_api("viewer")
    created = api.post("/tokens/create_token", {"name": "ci", "days": 2})
    assert created.status_code == 200, created.content
    body = created.json()
    assert body["name"] == "ci" and body["source"] == "api" and len(body["token"]) == 64
    listed = api.get("/tokens/list_tokens").json()
    assert {row["token_id"] for row in listed} >= {body["token_id"]}
    assert all("token" not in row for row in listed)
    assert all(row["user"] == listed[0]["user"] for row in listed)

    new_api = Api(Client(), body["token"])
    assert new_api.get("/storage/query_storage").status_code == 200
    assert api.post("/tokens/revoke_token", {"token_id": body["token_id"]}).status_code == 200
    assert new_api.get("/storage/query_storage").status_code == 401


def test_tokens_api_errors_name_the_field(make_api):
    api = make_api("viewer")
    response = api.post("/tokens/create_token", {"days": 0})
    assert response.status_code == 422 and "days" in response.json()["message"]
    response = api.post("/tokens/revoke_token")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "token_id"]
    response = api.post("/tokens/revoke_token", {"token_id": "nope"})
    assert response.status_code == 404


def test_only_admins_see_and_revoke_other_accounts_tokens(make_api):
    viewer, admin = make_api("viewer"), make_api("admin")
    _, bobs = api_token_create(user=account_ensure(username="bob", role=Role.VIEWER))
    bobs_id = AuthToken.objects.get(user__username="bob").token_key

    response = viewer.get("/tokens/list_tokens", {"user": "bob"})
    assert response.status_code == 403 and "admin" in response.json()["detail"]
    assert viewer.post("/tokens/revoke_token", {"token_id": bobs_id}).status_code == 404
    assert Api(Client(), bobs).get("/storage/query_storage").status_code == 200

    assert [row["token_id"] for row in admin.get("/tokens/list_tokens", {"user": "bob"}).json()] == [bobs_id]
    assert admin.post("/tokens/revoke_token", {"token_id": bobs_id}).status_code == 200
    assert Api(Client(), bobs).get("/storage/query_storage").status_code == 401


# --- /token_by_username_password ----------------------------------------------------------------


def test_password_tokens_are_off_by_default(alice):
    response = Client().post("/token_by_username_password", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 404 and "DLM_PASSWORD_TOKENS" in response.json()["detail"]
    assert not AuthToken.objects.exists()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_password_tokens_when_enabled(alice, settings, caplog, method):
    settings.DLM_PASSWORD_TOKENS = True
    caplog.set_level(logging.DEBUG)
    client = Client()
    credentials = {"username": "alice", "password": PASSWORD}
    response = client.get("/token_by_username_password", credentials) if method == "GET" else (
        client.post("/token_by_username_password", credentials)
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == int(settings.API_TOKEN_TTL.total_seconds())
    assert Api(Client(), body["access_token"]).get("/storage/query_storage").status_code == 200
    assert AuthToken.objects.get(user=alice).info.source == TokenInfo.Source.PASSWORD
    assert PASSWORD not in caplog.text and body["access_token"] not in caplog.text


def test_password_tokens_refuse_bad_credentials_with_401_and_missing_fields_with_422(alice, settings, caplog):
    settings.DLM_PASSWORD_TOKENS = True
    caplog.set_level(logging.DEBUG)
    response = Client().post("/token_by_username_password", {"username": "alice", "password": "guess-123"})
    assert response.status_code == 401 and response.json() == {"detail": "Invalid username or password"}
    response = Client().post("/token_by_username_password", {"username": "alice"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "password"]
    assert "guess-123" not in caplog.text
    assert not AuthToken.objects.exists()


# --- /scope -------------------------------------------------------------------------------------


def _scope(token: str, permission: str):
    return Client().get("/scope", {"token": token, "permission": permission})


def test_scope_answers_from_the_tokens_role():
    _, token = api_token_create(user=account_ensure(username="op", role=Role.OPERATOR))
    read = _scope(token, "res:storage#scope:read").json()
    assert read == {"is_logged_in": True, "is_authorized": True, "missing_permissions": []}
    copy = _scope(token, "res:migration#scope:write").json()
    assert copy["is_authorized"] is True
    storage_write = _scope(token, "res:storage#scope:write").json()
    assert storage_write == {
        "is_logged_in": True,
        "is_authorized": False,
        "missing_permissions": ["res:storage#scope:write"],
    }


def test_scope_of_an_invalid_token_is_not_logged_in_rather_than_an_error():
    answer = _scope("0" * 64, "res:storage#scope:read")
    assert answer.status_code == 200
    assert answer.json() == {
        "is_logged_in": False,
        "is_authorized": False,
        "missing_permissions": ["res:storage#scope:read"],
    }


def test_scope_checks_its_parameters():
    response = Client().get("/scope", {"token": "x"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "permission"]
    response = _scope("x", "storage-read")
    assert response.status_code == 422 and "permission" in response.json()["message"]


def test_an_account_without_a_role_can_log_in_but_the_api_refuses_it():
    user = User.objects.create_user("norole", password=PASSWORD)
    client = Client()
    _login(client, username="norole")
    page = client.get("/token_by_auth_flow")
    assert b"no role yet" in page.content
    token = TOKEN_RE.search(page.content.decode()).group(1)
    response = Api(Client(), token).get("/storage/query_storage")
    assert response.status_code == 403 and "viewer" in response.json()["detail"]
    assert AuthToken.objects.filter(user=user).count() == 1

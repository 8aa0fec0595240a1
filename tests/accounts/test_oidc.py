"""Logging in at a real OpenID provider on loopback (django-oauth-toolkit, ``tests/idp``), and the
provider's access tokens as Bearer tokens: nothing of the protocol is mocked."""

from __future__ import annotations

import logging
import re
import socket
import time

import jwt
import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client
from knox.models import AuthToken

from accounts import oidc
from accounts.models import ProviderIdentity, TokenInfo
from accounts.roles import Role, user_role
from tests.conftest import Api

TOKEN_RE = re.compile(r'<code class="token" id="token">([0-9a-f]{64})</code>')


def _configure(settings, provider, *, client_id: str, client_secret: str) -> None:
    settings.OIDC_ENABLED = True
    settings.DLM_OIDC_ISSUER = provider.issuer.rstrip("/")
    for name in ("AUTHORIZATION", "TOKEN", "USER", "JWKS"):
        setattr(settings, f"OIDC_OP_{name}_ENDPOINT", "")
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = client_id, client_secret
    settings.AUTHENTICATION_BACKENDS = ["accounts.oidc.ProviderBackend", "django.contrib.auth.backends.ModelBackend"]
    settings.LOGIN_URL = "/oidc/authenticate/"
    settings.DLM_OIDC_ROLE_MAP = {"dlm-viewers": "viewer", "dlm-operators": "operator", "dlm-admins": "admin"}
    _forget()


def _forget() -> None:
    oidc._discovery = None
    oidc._jwks_client = None
    oidc.forget_provider_tokens()


@pytest.fixture
def provider(settings, oidc_provider):
    """DLM configured for the browser flow with the provider's web client."""
    _configure(settings, oidc_provider, client_id=oidc_provider.client_id, client_secret=oidc_provider.client_secret)
    yield oidc_provider
    _forget()


@pytest.fixture
def no_leaks(caplog):
    """Every token a test puts in this list must be absent from the log output (at DEBUG)."""
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = []
    yield secrets
    for secret in secrets:
        assert secret not in caplog.text


def _browser_login(base: str, provider, username: str, *, accept: str = "text/html") -> tuple[requests.Session, str]:
    """Walk /token_by_auth_flow as a browser: follow the redirects to the provider, post its login
    form, follow the redirects back; the final response's body."""
    session = requests.Session()
    session.headers["Accept"] = accept
    first = session.get(f"{base}/token_by_auth_flow", timeout=20)
    assert first.url.startswith(provider.login_url), first.url  # DLM -> /oidc/authenticate/ -> authorize -> login
    hops = [response.url for response in first.history]
    assert hops[0] == f"{base}/token_by_auth_flow" and hops[1].startswith(f"{base}/oidc/authenticate/")
    posted = provider.log_in(session, first.url, username)
    assert posted.status_code == 302, posted.text[:500]
    final = session.get(requests.compat.urljoin(first.url, posted.headers["Location"]), timeout=20)
    assert final.status_code == 200, final.text[:500]
    assert final.url == f"{base}/token_by_auth_flow"
    return session, final.text


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_browser_flow_from_token_by_auth_flow_through_the_provider_to_a_working_token(provider, live_server, no_leaks):
    base = live_server.url.replace("localhost", "127.0.0.1")  # the provider allows 127.0.0.1 on any port
    # A local account with alice's email address must not be taken over: accounts match on sub.
    User.objects.create_user("alice-local", email="alice@example.org", password="local-pw-123")

    _, page = _browser_login(base, provider, "alice")
    token = TOKEN_RE.search(page).group(1)
    no_leaks.append(token)
    assert "shown <strong>only this once</strong>" in page and "role operator" in page

    identity = ProviderIdentity.objects.select_related("user").get(subject=provider.users["alice"].sub)
    assert identity.issuer == provider.issuer.rstrip("/") and identity.user.username == "alice"
    assert not identity.user.has_usable_password()
    assert User.objects.get(username="alice-local").provider_identities.count() == 0
    row = AuthToken.objects.get(user=identity.user)
    assert row.info.source == TokenInfo.Source.LOGIN

    api = Api(Client(), token)  # the token, used as a script would
    created = api.post("/ingest/init_data_item", {"item_name": "from-the-browser"}, body={})
    assert created.status_code == 200, created.content
    assert api.post("/storage/init_location", {"location_name": "x", "location_type": "local-dev"}).status_code == 403

    # A second login is the same account; the JSON form answers the bare string.
    _, body = _browser_login(base, provider, "alice", accept="application/json")
    second = requests.models.complexjson.loads(body)
    assert isinstance(second, str) and len(second) == 64
    assert ProviderIdentity.objects.count() == 1 and AuthToken.objects.filter(user=identity.user).count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_role_follows_the_providers_groups_at_each_login(provider, live_server):
    base = live_server.url.replace("localhost", "127.0.0.1")
    _browser_login(base, provider, "carol")
    carol = User.objects.get(username="carol")
    assert user_role(carol) is None  # no group: no role, and the API refuses her
    provider.set_groups("carol", ["dlm-admins"])
    try:
        _browser_login(base, provider, "carol")
        assert user_role(User.objects.get(username="carol")) == Role.ADMIN
    finally:
        provider.set_groups("carol", [])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_wrong_password_at_the_provider_logs_nobody_in(provider, live_server):
    base = live_server.url.replace("localhost", "127.0.0.1")
    session = requests.Session()
    first = session.get(f"{base}/token_by_auth_flow", timeout=20)
    posted = provider.log_in(session, first.url, "alice", password="not-her-password")
    assert posted.status_code == 200  # the provider's form again
    assert session.get(f"{base}/tokens", allow_redirects=False, timeout=20).status_code == 302
    assert not AuthToken.objects.exists() and not ProviderIdentity.objects.exists()


# --- provider access tokens as Bearer tokens ----------------------------------------------------


@pytest.mark.django_db
def test_a_provider_access_token_works_against_the_api(provider, no_leaks):
    answer = provider.password_token("bob")
    token = answer["access_token"]
    no_leaks.append(token)
    assert jwt.get_unverified_header(token)["kid"] == provider.kid
    api = Api(Client(), token)
    response = api.post("/storage/init_location", {"location_name": "by-jwt", "location_type": "local-dev"})
    assert response.status_code == 200, response.content  # bob is in dlm-admins
    bob = User.objects.get(provider_identities__subject=provider.users["bob"].sub)
    assert bob.username == "bob" and user_role(bob) == Role.ADMIN


@pytest.mark.django_db
def test_a_provider_token_revoked_or_expired_at_the_provider_is_refused(provider, settings, no_leaks):
    settings.DLM_OIDC_USERINFO_CACHE_SECONDS = 0  # check with the provider on every call
    revoked, expired = (
        provider.password_token("alice")["access_token"],
        provider.password_token("alice")["access_token"],
    )
    no_leaks.extend([revoked, expired])
    for token in (revoked, expired):
        assert Api(Client(), token).get("/storage/query_storage").status_code == 200
    provider.revoke(revoked)
    provider.expire(expired)
    for token in (revoked, expired):
        response = Api(Client(), token).get("/storage/query_storage")
        assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda p: p.sign_jwt(p.token_claims("bob", exp=int(time.time()) - 600)), id="expired"),
        pytest.param(lambda p: p.sign_jwt(p.token_claims("bob"), key="other"), id="other-key"),
        pytest.param(
            lambda p: p.sign_jwt(p.token_claims("bob"), key="other", headers={"kid": p.kid}), id="other-key-same-kid"
        ),
        pytest.param(lambda p: p.sign_jwt(p.token_claims("bob", iss="http://127.0.0.1:9/o")), id="foreign-issuer"),
        pytest.param(lambda p: jwt.encode(p.token_claims("bob"), None, algorithm="none"), id="unsigned"),
        pytest.param(lambda p: "opaque-token-the-provider-never-issued", id="unknown-opaque"),
    ],
)
def test_forged_expired_and_foreign_tokens_get_401(provider, forge, no_leaks):
    token = forge(provider)
    no_leaks.append(token)
    response = Api(Client(), token).post("/storage/init_location", {"location_name": "x", "location_type": "local-dev"})
    assert response.status_code == 401, response.content
    assert "detail" in response.json()
    assert not ProviderIdentity.objects.exists()  # nobody was let in, so nobody was created


@pytest.mark.django_db
def test_provider_tokens_are_checked_once_then_remembered_under_their_hash(provider, settings, monkeypatch):
    settings.DLM_OIDC_USERINFO_CACHE_SECONDS = 60
    token = provider.password_token("alice")["access_token"]
    calls = []
    real_userinfo = oidc._userinfo
    monkeypatch.setattr(oidc, "_userinfo", lambda text: calls.append(1) or real_userinfo(text))
    api = Api(Client(), token)
    for _ in range(3):
        assert api.get("/storage/query_storage").status_code == 200
    assert len(calls) == 1
    assert all(token not in key for key in oidc._SEEN)


@pytest.mark.django_db
def test_scope_judges_a_provider_token(provider):
    token = provider.password_token("alice")["access_token"]
    answer = Client().get("/scope", {"token": token, "permission": "res:data_item#scope:write"}).json()
    assert answer == {"is_logged_in": True, "is_authorized": True, "missing_permissions": []}
    answer = Client().get("/scope", {"token": token, "permission": "res:storage#scope:write"}).json()
    assert answer["is_authorized"] is False


@pytest.mark.django_db
def test_password_tokens_go_to_the_provider(settings, oidc_provider, no_leaks):
    _configure(settings, oidc_provider, client_id=oidc_provider.cli_client_id,
               client_secret=oidc_provider.cli_client_secret)  # fmt: skip
    settings.DLM_PASSWORD_TOKENS = True
    alice = oidc_provider.users["alice"]
    no_leaks.append(alice.password)
    response = Client().post("/token_by_username_password", {"username": "alice", "password": alice.password})
    assert response.status_code == 200, response.content
    body = response.json()
    no_leaks.append(body["access_token"])
    assert body["token_type"].lower() == "bearer" and "expires_in" in body  # the provider's answer
    assert Api(Client(), body["access_token"]).get("/storage/query_storage").status_code == 200
    wrong = Client().post("/token_by_username_password", {"username": "alice", "password": "wrong-pw-987"})
    assert wrong.status_code == 401
    no_leaks.append("wrong-pw-987")
    _forget()


# --- without a reachable provider ---------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_an_unreachable_provider_gives_a_503_page_and_the_local_form_still_works(settings):
    settings.OIDC_ENABLED = True
    settings.DLM_OIDC_ISSUER = f"http://127.0.0.1:{_closed_port()}/o"
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = "dlm", "secret"
    settings.AUTHENTICATION_BACKENDS = ["accounts.oidc.ProviderBackend", "django.contrib.auth.backends.ModelBackend"]
    _forget()
    try:
        response = Client().get("/oidc/authenticate/")
        assert response.status_code == 503 and b"cannot be reached" in response.content
        User.objects.create_user("local-admin", password="local-pw-123")
        client = Client()
        assert client.post("/login", {"username": "local-admin", "password": "local-pw-123"}).status_code == 302
        assert client.get("/tokens").status_code == 200
        bad = Api(Client(), "opaque-token").get("/storage/query_storage")
        assert bad.status_code == 401 and "could not check" in bad.json()["detail"]
    finally:
        _forget()


@pytest.mark.django_db
def test_without_a_provider_the_oidc_paths_are_404():
    assert Client().get("/oidc/authenticate/").status_code == 404
    assert Client().get("/oidc/callback/?code=x&state=y").status_code == 404

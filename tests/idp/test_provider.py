"""The test OpenID provider (``oidc_provider``) behaves as a real one: discovery, JWKS, password
and authorization-code grants, userinfo, JWT access tokens, expiry and revocation."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import pytest
import requests

from tests.oidc_provider import OidcProvider, free_port, running_oidc_provider


def _claims_of(user) -> dict:
    return {"sub": user.sub, "preferred_username": user.username, "email": user.email, "groups": list(user.groups)}


def _verify(provider: OidcProvider, token: str, *, audience: str) -> dict:
    """The claims of ``token`` after checking its signature against the published JWKS."""
    signing_key = jwt.PyJWKClient(provider.jwks_uri).get_signing_key_from_jwt(token)
    return jwt.decode(token, signing_key.key, algorithms=["RS256"], audience=audience, issuer=provider.issuer)


def _authorize(session: requests.Session, provider: OidcProvider, redirect_uri: str, **params) -> requests.Response:
    """GET the authorization endpoint for the web client, redirects not followed."""
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile email",
        "state": secrets.token_urlsafe(8),
        **params,
    }
    return session.get(provider.authorization_endpoint, params=params, allow_redirects=False, timeout=10)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _logged_in_session(provider: OidcProvider, username: str) -> requests.Session:
    session = requests.Session()
    response = provider.log_in(session, provider.login_url, username)
    assert response.status_code == 302
    return session


def _loopback_redirect_uri(host: str = "127.0.0.1") -> str:
    """A registered redirect URI, on a port known only now (as DLM's test server's is)."""
    return f"http://{host}:{free_port()}/oidc/callback/"


def test_discovery_names_the_endpoints_and_the_issuer(oidc_provider):
    document = requests.get(oidc_provider.discovery_url, timeout=10).json()

    assert document["issuer"] == oidc_provider.issuer == f"{oidc_provider.base_url}/o"
    assert document["authorization_endpoint"] == oidc_provider.authorization_endpoint
    assert document["token_endpoint"] == oidc_provider.token_endpoint
    assert document["userinfo_endpoint"] == oidc_provider.userinfo_endpoint
    assert document["jwks_uri"] == oidc_provider.jwks_uri
    assert "S256" in document["code_challenge_methods_supported"]
    assert "RS256" in document["id_token_signing_alg_values_supported"]
    assert {"sub", "preferred_username", "email", "groups"} <= set(document["claims_supported"])


def test_jwks_publishes_the_provider_key_under_its_kid(oidc_provider):
    keys = requests.get(oidc_provider.jwks_uri, timeout=10).json()["keys"]

    assert [(key["kid"], key["kty"], key["alg"]) for key in keys] == [(oidc_provider.kid, "RSA", "RS256")]


@pytest.mark.parametrize("username", ["alice", "bob", "carol"])
def test_password_grant_token_answers_userinfo_with_the_user_claims(oidc_provider, username):
    token = oidc_provider.password_token(username)

    response = oidc_provider.userinfo(token["access_token"])

    assert response.status_code == 200
    assert response.json() == _claims_of(oidc_provider.users[username])
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "openid profile email"


def test_userinfo_releases_only_the_claims_of_the_granted_scopes(oidc_provider):
    token = oidc_provider.password_token("alice", scope="openid")

    assert oidc_provider.userinfo(token["access_token"]).json() == {"sub": oidc_provider.users["alice"].sub}


def test_password_grant_refuses_a_wrong_password(oidc_provider):
    with pytest.raises(AssertionError, match="invalid_grant"):
        oidc_provider.password_token("alice", password="wrong")


def test_access_token_is_a_jwt_verifiable_with_the_jwks(oidc_provider):
    token = oidc_provider.password_token("bob")
    access_token = token["access_token"]

    claims = _verify(oidc_provider, access_token, audience=oidc_provider.cli_client_id)

    assert jwt.get_unverified_header(access_token) == {"alg": "RS256", "typ": "at+jwt", "kid": oidc_provider.kid}
    assert claims | _claims_of(oidc_provider.users["bob"]) == claims  # carries the user's claims
    assert claims["scope"] == "openid profile email"
    assert claims["exp"] - claims["iat"] == token["expires_in"]
    assert claims["jti"]


def test_expired_access_token_is_refused_by_userinfo(oidc_provider):
    expired = oidc_provider.password_token("alice")["access_token"]
    other = oidc_provider.password_token("alice")["access_token"]
    assert oidc_provider.userinfo(expired).status_code == 200

    oidc_provider.expire(expired)

    assert oidc_provider.userinfo(expired).status_code == 401
    assert oidc_provider.userinfo(other).status_code == 200


def test_expire_refuses_an_unknown_token(oidc_provider):
    with pytest.raises(LookupError):
        oidc_provider.expire("not-a-token")


def test_revoked_access_token_is_refused_by_userinfo(oidc_provider):
    access_token = oidc_provider.password_token("carol")["access_token"]
    assert oidc_provider.userinfo(access_token).status_code == 200

    oidc_provider.revoke(access_token)

    response = oidc_provider.userinfo(access_token)
    assert response.status_code == 401
    assert "invalid_token" in response.headers["WWW-Authenticate"]


def test_authorization_code_flow_with_pkce_on_any_loopback_port(oidc_provider):
    session = requests.Session()
    verifier, challenge = _pkce()
    nonce = secrets.token_urlsafe(8)
    redirect_uri = _loopback_redirect_uri()

    # Not logged in at the provider: it sends the browser to its login form.
    response = _authorize(
        session, oidc_provider, redirect_uri, code_challenge=challenge, code_challenge_method="S256", nonce=nonce
    )
    assert response.status_code == 302
    login_url = urljoin(response.url, response.headers["Location"])
    assert login_url.startswith(oidc_provider.login_url + "?next=")

    response = oidc_provider.log_in(session, login_url, "alice")
    assert response.status_code == 302
    assert set(session.cookies.keys()) == {"idpsessionid", "idpcsrftoken"}

    # Back at the authorization endpoint: no consent screen, straight to the client with a code.
    response = session.get(urljoin(login_url, response.headers["Location"]), allow_redirects=False, timeout=10)
    assert response.status_code == 302
    callback = urlsplit(response.headers["Location"])
    assert callback._replace(query="").geturl() == redirect_uri
    query = parse_qs(callback.query)
    assert query["state"] == parse_qs(urlsplit(response.url).query)["state"]

    token = requests.post(
        oidc_provider.token_endpoint,
        auth=(oidc_provider.client_id, oidc_provider.client_secret),
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        timeout=10,
    ).json()

    alice = oidc_provider.users["alice"]
    id_claims = _verify(oidc_provider, token["id_token"], audience=oidc_provider.client_id)
    assert id_claims | _claims_of(alice) == id_claims
    assert id_claims["nonce"] == nonce
    assert jwt.get_unverified_header(token["id_token"])["kid"] == oidc_provider.kid
    access_claims = _verify(oidc_provider, token["access_token"], audience=oidc_provider.client_id)
    assert access_claims["sub"] == alice.sub
    assert oidc_provider.userinfo(token["access_token"]).json() == _claims_of(alice)


def test_authorization_requires_pkce(oidc_provider):
    session = _logged_in_session(oidc_provider, "bob")
    redirect_uri = _loopback_redirect_uri()

    response = _authorize(session, oidc_provider, redirect_uri)

    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_request"]
    assert query["error_description"] == ["Code challenge required."]
    assert "code" not in query


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_silent_authorization_gives_a_code_to_a_logged_in_user(oidc_provider, host):
    session = _logged_in_session(oidc_provider, "alice")
    _, challenge = _pkce()
    redirect_uri = _loopback_redirect_uri(host)

    response = _authorize(
        session,
        oidc_provider,
        redirect_uri,
        prompt="none",
        code_challenge=challenge,
        code_challenge_method="S256",
    )

    assert response.status_code == 302
    assert response.headers["Location"].startswith(redirect_uri + "?")
    assert "code" in parse_qs(urlsplit(response.headers["Location"]).query)


def test_silent_authorization_answers_login_required_without_a_session(oidc_provider):
    _, challenge = _pkce()

    response = _authorize(
        requests.Session(),
        oidc_provider,
        _loopback_redirect_uri(),
        prompt="none",
        code_challenge=challenge,
        code_challenge_method="S256",
    )

    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["login_required"]


def test_authorization_refuses_a_redirect_uri_on_another_path(oidc_provider):
    session = _logged_in_session(oidc_provider, "bob")
    _, challenge = _pkce()

    response = _authorize(
        session,
        oidc_provider,
        f"http://127.0.0.1:{free_port()}/elsewhere/",
        code_challenge=challenge,
        code_challenge_method="S256",
    )

    assert response.status_code == 400  # an error page: never a redirect to an unregistered URI
    assert "Location" not in response.headers


def test_provider_serves_concurrent_requests(oidc_provider):
    usernames = ["alice", "bob", "carol"] * 3

    with ThreadPoolExecutor(len(usernames)) as pool:
        tokens = list(pool.map(oidc_provider.password_token, usernames))

    access_tokens = [token["access_token"] for token in tokens]
    assert len(set(access_tokens)) == len(usernames)
    with ThreadPoolExecutor(len(usernames)) as pool:
        answers = list(pool.map(oidc_provider.userinfo, access_tokens))
    assert [answer.json()["preferred_username"] for answer in answers] == usernames


def test_sign_jwt_signs_with_the_provider_key_or_another(oidc_provider):
    claims = oidc_provider.token_claims("alice")
    jwks = jwt.PyJWKClient(oidc_provider.jwks_uri)

    genuine = oidc_provider.sign_jwt(claims)
    forged = oidc_provider.sign_jwt(claims, key="other", headers={"kid": oidc_provider.kid})
    foreign = oidc_provider.sign_jwt(claims, key="other")

    assert _verify(oidc_provider, genuine, audience=oidc_provider.cli_client_id) == claims
    with pytest.raises(jwt.InvalidSignatureError):
        _verify(oidc_provider, forged, audience=oidc_provider.cli_client_id)
    with pytest.raises(jwt.PyJWKClientError):
        jwks.get_signing_key_from_jwt(foreign)


def test_token_claims_can_change_and_drop_claims(oidc_provider):
    claims = oidc_provider.token_claims("bob", exp=1, groups=None)

    assert claims["exp"] == 1
    assert "groups" not in claims
    assert claims["sub"] == oidc_provider.users["bob"].sub


def test_set_groups_changes_the_groups_of_new_tokens(oidc_provider):
    try:
        oidc_provider.set_groups("carol", ["dlm-admins", "new-group"])

        token = oidc_provider.password_token("carol")["access_token"]

        assert oidc_provider.userinfo(token).json()["groups"] == ["dlm-admins", "new-group"]
        assert _verify(oidc_provider, token, audience=oidc_provider.cli_client_id)["groups"] == [
            "dlm-admins",
            "new-group",
        ]
    finally:
        oidc_provider.set_groups("carol", [])
    assert oidc_provider.userinfo(oidc_provider.password_token("carol")["access_token"]).json()["groups"] == []


def test_provider_process_stops_when_its_context_exits(tmp_path):
    with running_oidc_provider(tmp_path) as provider:
        assert requests.get(provider.discovery_url, timeout=10).status_code == 200

    with pytest.raises(ProcessLookupError):
        os.kill(provider.pid, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(provider.discovery_url, timeout=2)

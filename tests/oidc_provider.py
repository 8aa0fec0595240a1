"""A real OpenID Connect provider on loopback for tests: django-oauth-toolkit in its own process
(``tests/idp``), with its own settings, SQLite database and RSA key. Fixture: ``oidc_provider``.

Users: alice (group ``dlm-operators``), bob (``dlm-admins``), carol (no group). Clients, both
confidential: ``dlm-web`` (authorization code with PKCE, no consent screen, redirect URI
``/oidc/callback/`` on 127.0.0.1 or localhost, any port, per RFC 8252) and ``dlm-cli`` (password grant).
Access tokens are RS256 JWTs (``typ`` ``at+jwt``) signed with the key the JWKS publishes.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk

ROOT = Path(__file__).resolve().parent.parent
REDIRECT_URI = "http://127.0.0.1/oidc/callback/"
LOCALHOST_REDIRECT_URI = "http://localhost/oidc/callback/"
STARTUP_TIMEOUT = 30


@dataclass(frozen=True)
class IdpUser:
    username: str
    password: str
    sub: str  # stable and opaque: neither the username nor a primary key
    email: str
    groups: tuple[str, ...]


USERS = {
    user.username: user
    for user in (
        IdpUser("alice", "alice-pw-1", "0b6d5c4e-5f0a-4c43-9b1e-a11ce0000001", "alice@example.org", ("dlm-operators",)),
        IdpUser("bob", "bob-pw-2", "7f3e2d1c-8a9b-4c5d-8e6f-b0b000000002", "bob@example.org", ("dlm-admins",)),
        IdpUser("carol", "carol-pw-3", "c2a1b0f9-3e4d-4a5b-9c6d-ca7010000003", "carol@example.org", ()),
    )
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class OidcProvider:
    """A running provider: its endpoints, clients and users, and helpers that act on it."""

    def __init__(
        self, *, pid: int, base_url: str, directory: Path, discovery: dict[str, Any], clients: dict[str, str]
    ) -> None:
        self.pid = pid
        self.base_url = base_url
        self.directory = directory
        self.db_path = directory / "idp.sqlite3"
        self.private_key_path = directory / "oidc.key"
        self.private_key_pem = self.private_key_path.read_text()
        self.kid = jwk.JWK.from_pem(self.private_key_pem.encode()).thumbprint()  # as DOT's JWKS derives it
        self.discovery_url = f"{base_url}/o/.well-known/openid-configuration"
        self.issuer: str = discovery["issuer"]
        self.authorization_endpoint: str = discovery["authorization_endpoint"]
        self.token_endpoint: str = discovery["token_endpoint"]
        self.userinfo_endpoint: str = discovery["userinfo_endpoint"]
        self.jwks_uri: str = discovery["jwks_uri"]
        # DOT's OIDC discovery document does not list it.
        self.revocation_endpoint = f"{base_url}/o/revoke_token/"
        self.login_url = f"{base_url}/accounts/login/"
        self.redirect_uris = (REDIRECT_URI, LOCALHOST_REDIRECT_URI)  # as registered: any port is accepted
        self.client_id = clients["client_id"]
        self.client_secret = clients["client_secret"]
        self.cli_client_id = clients["cli_client_id"]
        self.cli_client_secret = clients["cli_client_secret"]
        self.users = USERS

    def password_token(
        self, username: str, *, scope: str = "openid profile email", password: str | None = None
    ) -> dict[str, Any]:
        """The token endpoint's answer to a password grant by the cli client (raises unless 200)."""
        response = requests.post(
            self.token_endpoint,
            auth=(self.cli_client_id, self.cli_client_secret),
            data={
                "grant_type": "password",
                "username": username,
                "password": self._password(username, password),
                "scope": scope,
            },
            timeout=10,
        )
        if response.status_code != 200:
            raise AssertionError(f"password grant for {username}: {response.status_code} {response.text}")
        return response.json()

    def userinfo(self, access_token: str) -> requests.Response:
        """The userinfo endpoint's response to ``access_token``."""
        return requests.get(self.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"}, timeout=10)

    def revoke(self, token: str) -> None:
        """Revoke an access or refresh token at the revocation endpoint. DOT only lets the client
        a token was issued to revoke it, so this asks as each client in turn."""
        for client in ((self.client_id, self.client_secret), (self.cli_client_id, self.cli_client_secret)):
            response = requests.post(self.revocation_endpoint, auth=client, data={"token": token}, timeout=10)
            if response.status_code != 200:
                raise AssertionError(f"revocation: {response.status_code} {response.text}")

    def expire(self, access_token: str) -> None:
        """Make an issued access token expired in the provider's database (its JWT ``exp`` claim
        cannot change: for an expired JWT, sign one with ``sign_jwt``)."""
        checksum = hashlib.sha256(access_token.encode()).hexdigest()
        with self._db() as db:
            cursor = db.execute(
                "UPDATE oauth2_provider_accesstoken SET expires = ? WHERE token_checksum = ?",
                ("2000-01-01 00:00:00", checksum),
            )
            if cursor.rowcount != 1:
                raise LookupError("no such access token at the provider")

    def set_groups(self, username: str, groups: list[str]) -> None:
        """Replace a user's groups at the provider, for tokens issued from now on. The provider
        lives for the whole session: a test that calls this must restore the groups."""
        with self._db() as db:
            row = db.execute("SELECT id FROM auth_user WHERE username = ?", (username,)).fetchone()
            if row is None:
                raise LookupError(f"no user {username!r} at the provider")
            (user_id,) = row
            db.execute("DELETE FROM auth_user_groups WHERE user_id = ?", (user_id,))
            for name in groups:
                db.execute("INSERT OR IGNORE INTO auth_group (name) VALUES (?)", (name,))
                db.execute(
                    "INSERT INTO auth_user_groups (user_id, group_id) SELECT ?, id FROM auth_group WHERE name = ?",
                    (user_id, name),
                )

    def token_claims(self, username: str, **changes: Any) -> dict[str, Any]:
        """Claims of a valid access token for ``username`` from the cli client, as the provider would
        issue them now; ``changes`` replace claims (a value of None removes the claim)."""
        user = self.users[username]
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.cli_client_id,
            "client_id": self.cli_client_id,
            "iat": now,
            "exp": now + 3600,
            "jti": secrets.token_hex(16),
            "scope": "openid profile email",
            "sub": user.sub,
            "preferred_username": user.username,
            "email": user.email,
            "groups": list(user.groups),
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def sign_jwt(self, claims: dict[str, Any], *, key: str = "provider", headers: dict[str, Any] | None = None) -> str:
        """``claims`` signed RS256 with the provider's own key (``key="provider"``) or with a key the
        provider never published (``key="other"``). The header carries ``typ`` ``at+jwt`` and that
        key's ``kid``; ``headers`` overrides them (``{"kid": provider.kid}`` on an other-key token
        makes a forgery that names the provider's key)."""
        if key == "provider":
            pem, kid = self.private_key_pem, self.kid
        elif key == "other":
            pem, kid = self._other_key
        else:
            raise ValueError(f"key must be 'provider' or 'other', not {key!r}")
        return jwt.encode(claims, pem, algorithm="RS256", headers={"typ": "at+jwt", "kid": kid, **(headers or {})})

    def log_in(
        self, session: requests.Session, login_url: str, username: str, *, password: str | None = None
    ) -> requests.Response:
        """Fill in the provider's login form as a browser would: GET ``login_url`` (where the
        provider redirected, ``?next=`` included), POST the credentials with the form's hidden
        fields. Returns the POST's response, redirects not followed."""
        page = session.get(login_url, timeout=10)
        page.raise_for_status()
        fields = {name: html.unescape(value) for name, value in _HIDDEN_INPUT.findall(page.text)}
        (action,) = _FORM_ACTION.findall(page.text)
        fields |= {"username": username, "password": self._password(username, password)}
        return session.post(urljoin(page.url, html.unescape(action)), data=fields, allow_redirects=False, timeout=10)

    def _password(self, username: str, password: str | None) -> str:
        return self.users[username].password if password is None else password

    @cached_property
    def _other_key(self) -> tuple[str, str]:
        pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return pem, jwk.JWK.from_pem(pem.encode()).thumbprint()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=20)
        try:
            with db:  # one transaction
                yield db
        finally:
            db.close()


_HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_FORM_ACTION = re.compile(r'<form method="post" action="([^"]*)"')


@contextmanager
def running_oidc_provider(directory: Path) -> Iterator[OidcProvider]:
    """Start the provider on a free loopback port, serving from ``directory``; stop it on exit,
    also when it fails to start."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    clients = {
        "client_id": "dlm-web",
        "client_secret": "web-" + secrets.token_urlsafe(24),
        "cli_client_id": "dlm-cli",
        "cli_client_secret": "cli-" + secrets.token_urlsafe(24),
    }
    spec = {
        "users": [
            {"username": u.username, "password": u.password, "email": u.email, "sub": u.sub, "groups": list(u.groups)}
            for u in USERS.values()
        ],
        "clients": [
            {
                "name": "DLM web",
                "client_id": clients["client_id"],
                "client_secret": clients["client_secret"],
                "grant_type": "authorization-code",
                "redirect_uris": [REDIRECT_URI, LOCALHOST_REDIRECT_URI],
                "skip_authorization": True,
            },
            {
                "name": "DLM cli",
                "client_id": clients["cli_client_id"],
                "client_secret": clients["cli_client_secret"],
                "grant_type": "password",
            },
        ],
    }
    log = directory / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.idp.serve", "--port", str(port), "--dir", str(directory)]
            + ["--spec", json.dumps(spec)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        discovery = _wait_for_discovery(process, f"{base_url}/o/.well-known/openid-configuration", log)
        yield OidcProvider(
            pid=process.pid, base_url=base_url, directory=directory, discovery=discovery, clients=clients
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_discovery(process: subprocess.Popen, url: str, log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the OIDC provider exited with {process.returncode}:\n{log.read_text()}")
        try:
            response = requests.get(url, timeout=2)
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.05)
            continue
        if response.status_code == 200:
            return response.json()
        raise RuntimeError(f"the OIDC provider's discovery answered {response.status_code}:\n{log.read_text()}")
    raise RuntimeError(f"the OIDC provider did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory) -> Iterator[OidcProvider]:
    """The session's OpenID Connect provider (see the module docstring)."""
    with running_oidc_provider(tmp_path_factory.mktemp("idp")) as provider:
        yield provider

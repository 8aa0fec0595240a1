"""How API callers prove who they are.

* ``Authorization: Bearer <token>``: a DLM API token (random, stored hashed, with an expiry), or,
  when an OpenID provider is configured, an access token of that provider (checked with it: see
  ``accounts.oidc``).
* No header at all, from an address in ``DLM_TRUSTED_NETWORKS``: the account and role of the
  most specific listed network holding it (ska-dlm-client calls the services this way from inside
  a trusted network). Only the socket's peer address counts; forwarded-for headers are ignored,
  since any client can set them.
"""

from __future__ import annotations

import binascii
import copy
import ipaddress
import logging
import time
from hmac import compare_digest

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.roles import Role, remember_role, role_subquery
from core.env import TrustedNetwork

log = logging.getLogger("dlm.auth")


# digest -> (remembered until, token row with its user, role name); per process, bounded.
_TOKENS: dict[str, tuple[float, AuthToken, str | None]] = {}
_TOKENS_MAX = 10_000


def _remembered(digest: str) -> tuple[AuthToken, str | None] | None:
    entry = _TOKENS.get(digest)
    if entry is None or entry[0] < time.monotonic():
        return None
    return entry[1], entry[2]


def forget_tokens(**kwargs) -> None:
    """Forget every remembered token (connected to token, account and role changes)."""
    _TOKENS.clear()
    if settings.OIDC_ENABLED:
        from accounts.oidc import forget_provider_tokens

        forget_provider_tokens()


class BearerTokenAuthentication(TokenAuthentication):
    """DLM API tokens, sent as ``Authorization: Bearer <token>``.

    Any other scheme, or a malformed header, is refused rather than ignored: a client that sent
    credentials must learn that they were not accepted.

    One query finds the token, its account and the account's role. A worker then remembers a
    valid token for ``DLM_AUTH_CACHE_SECONDS`` (default 10 s), so that a burst of calls by one
    script costs no authentication query. Revoking a token, deactivating an account or changing
    its roles clears this process's memory at once; other processes notice within that time.
    An expired token is refused, and deleted when it is next presented.
    """

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != b"bearer":
            raise exceptions.AuthenticationFailed("Authorization header must use the Bearer scheme.")
        return super().authenticate(request)

    def authenticate_credentials(self, token: bytes):
        try:
            text = token.decode()
            digest = hash_token(text)
        except (UnicodeDecodeError, TypeError, binascii.Error):
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        found = _remembered(digest)
        if found is None:
            try:
                found = self._look_up(text, digest)
            except exceptions.AuthenticationFailed:
                if not settings.OIDC_ENABLED:
                    raise
                from accounts.oidc import provider_token_user  # only with a provider configured

                user, auth, role = provider_token_user(text)
                remember_role(user, role.value if role else None)
                return (user, auth)
        row, role = found
        if row.expiry is not None and row.expiry < timezone.now():
            forget_tokens()
            row.delete()
            raise exceptions.AuthenticationFailed("Invalid token.")
        user = copy.copy(row.user)  # a request may annotate its user: never share one between requests
        remember_role(user, role)
        return (user, row)

    @staticmethod
    def _look_up(text: str, digest: str) -> tuple[AuthToken, str | None]:
        if "." in text:  # a JWT: DLM's tokens are hex
            raise exceptions.AuthenticationFailed("Invalid token.")
        candidates = (
            AuthToken.objects.filter(token_key=text[: CONSTANTS.TOKEN_KEY_LENGTH])
            .select_related("user")
            .annotate(dlm_role=role_subquery("user_id"))
        )
        for row in candidates:
            if compare_digest(digest, row.digest):
                if not row.user.is_active:
                    raise exceptions.AuthenticationFailed("User inactive or deleted.")
                ttl = settings.DLM_AUTH_CACHE_SECONDS
                if ttl > 0:
                    if len(_TOKENS) >= _TOKENS_MAX:
                        _TOKENS.clear()
                    _TOKENS[digest] = (time.monotonic() + ttl, row, row.dlm_role)
                return row, row.dlm_role
        raise exceptions.AuthenticationFailed("Invalid token.")

    def authenticate_header(self, request) -> str:
        return "Bearer"


def trusted_network_of(address: str, networks: list[TrustedNetwork]) -> TrustedNetwork | None:
    """The most specific entry of ``networks`` (longest prefix) that holds the client
    ``address``, or None. An IPv4 address mapped into IPv6 (``::ffff:10.1.2.3``, as a dual-stack
    socket reports it) counts as that IPv4 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    holding = [entry for entry in networks if ip in entry.network]
    return max(holding, key=lambda entry: entry.network.prefixlen, default=None)


class TrustedNetworkAuthentication(BaseAuthentication):
    """Requests without credentials from a trusted network act as that network's account (created
    on first use), with that network's role whatever the account's groups (or superuser flag)
    say."""

    def authenticate(self, request):
        if not settings.TRUSTED_NETWORKS or "HTTP_AUTHORIZATION" in request._request.META:
            return None  # a client that sent credentials, even empty ones, is judged by them
        entry = trusted_network_of(request._request.META.get("REMOTE_ADDR", ""), settings.TRUSTED_NETWORKS)
        if entry is None:
            return None
        user, _ = get_user_model().objects.get_or_create(username=entry.account)
        if not user.is_active:
            log.warning("DLM_TRUSTED_NETWORKS names account %r, which is deactivated", entry.account)
            return None
        user._dlm_role = Role(entry.role)  # the network's role, even for a superuser account
        return (user, None)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A DLM API token"}


class TrustedNetworkScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TrustedNetworkAuthentication"
    name = "trustedNetwork"
    priority = -1

    def get_security_definition(self, auto_schema):
        # OpenAPI has no scheme for "by client address"; describe it as a header-less API key.
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-DLM-Trusted-Network",
            "description": "No credentials, from an address listed in DLM_TRUSTED_NETWORKS (header not read).",
        }

"""Logging in at the organisation's OpenID provider, and accepting the provider's access tokens.

Browser logins use mozilla-django-oidc's authorization code flow with PKCE. The provider's
endpoints come from ``DLM_OIDC_*_ENDPOINT`` or, with ``DLM_OIDC_ISSUER``, from its discovery
document (fetched once per process, when first needed). An account is matched on the provider's
``sub`` (with the issuer), never on an email address; its username comes from
``DLM_OIDC_USERNAME_CLAIM`` and its role from the groups in ``DLM_OIDC_GROUPS_CLAIM`` through
``DLM_OIDC_ROLE_MAP``, on every login.

Access tokens sent as ``Authorization: Bearer`` are checked with the provider, never trusted as
they are: a JWT by its signature (the provider's JWKS), issuer, expiry and (when configured)
audience; any other token by the provider's userinfo endpoint, whose answer is remembered for a
short while under the token's hash.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.shortcuts import render
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView
from rest_framework import exceptions

from accounts.models import ProviderIdentity
from accounts.roles import Role, highest_role, user_role
from accounts.tokens import account_role_set

log = logging.getLogger("dlm.auth")

# mozilla-django-oidc setting -> discovery document key
_DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
_discovery: dict[str, Any] | None = None
_lock = threading.Lock()


class ProviderUnavailable(Exception):
    """The OpenID provider could not be reached or gave no usable answer."""


def discovery() -> dict[str, Any]:
    """The provider's discovery document (``{}`` without ``DLM_OIDC_ISSUER``); fetched once."""
    global _discovery
    if not settings.DLM_OIDC_ISSUER:
        return {}
    with _lock:
        if _discovery is None:
            url = f"{settings.DLM_OIDC_ISSUER}/.well-known/openid-configuration"
            try:
                response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
                response.raise_for_status()
                document = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise ProviderUnavailable(f"The provider's discovery document {url} could not be read: {exc}") from None
            if document.get("issuer", "").rstrip("/") != settings.DLM_OIDC_ISSUER:
                raise ProviderUnavailable(
                    f"The discovery document names issuer {document.get('issuer')!r}, not {settings.DLM_OIDC_ISSUER!r}"
                )
            _discovery = document
        return _discovery


def provider_setting(attr: str, *args: Any) -> Any:
    """A mozilla-django-oidc setting; an endpoint left unset comes from the discovery document."""
    if attr in _DISCOVERED and not getattr(settings, attr, ""):
        value = discovery().get(_DISCOVERED[attr])
        if value:
            return value
    return import_from_settings(attr, *args)


def issuer() -> str:
    return (discovery().get("issuer") or settings.DLM_OIDC_ISSUER) if settings.DLM_OIDC_ISSUER else ""


# --- accounts from claims -----------------------------------------------------------------------


def role_from_claims(claims: dict[str, Any]) -> Role | None | bool:
    """The role the groups claim maps to; None when it maps to none; False when there is no
    groups claim at all (the account's role is then left as it is)."""
    groups = claims.get(settings.DLM_OIDC_GROUPS_CLAIM)
    if groups is None:
        return False
    if isinstance(groups, str):
        groups = [groups]
    # Keycloak writes group paths ("/dlm-operators"): those count by their name.
    names = [g.lstrip("/") for g in groups if isinstance(g, str)]
    roles = [Role(settings.DLM_OIDC_ROLE_MAP[name]) for name in names if name in settings.DLM_OIDC_ROLE_MAP]
    return highest_role(roles)


def _free_username(wanted: str, subject: str) -> str:
    users = get_user_model().objects
    name = wanted or f"oidc-{subject}"
    if not users.filter(username=name).exists():
        return name
    return f"{name}.{hashlib.sha256(subject.encode()).hexdigest()[:8]}"


def account_for_claims(claims: dict[str, Any], *, issuer_name: str) -> Any:
    """The account of the provider identity (``sub``), created on first sight; its role follows
    the groups claim when there is one."""
    subject = str(claims.get("sub") or "")
    if not subject:
        raise SuspiciousOperation("The provider's claims carry no sub")
    identity = ProviderIdentity.objects.select_related("user").filter(issuer=issuer_name, subject=subject).first()
    if identity is None:
        wanted = str(claims.get(settings.DLM_OIDC_USERNAME_CLAIM) or "")[:150]
        try:
            with transaction.atomic():
                user = get_user_model().objects.create_user(
                    _free_username(wanted, subject), email=str(claims.get("email") or "")
                )
                user.set_unusable_password()
                user.save(update_fields=["password"])
                ProviderIdentity.objects.create(user=user, issuer=issuer_name, subject=subject)
        except IntegrityError:  # a concurrent first login of the same identity
            identity = ProviderIdentity.objects.select_related("user").get(issuer=issuer_name, subject=subject)
            user = identity.user
        log.info("account %s created for %s at %s", user.get_username(), subject, issuer_name)
    else:
        user = identity.user
    role = role_from_claims(claims)
    if role is not False:
        current = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        if current != ({role.value} if role else set()):
            account_role_set(user=user, role=role)
    return user


class ProviderBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, matching accounts on ``sub`` and setting their role.

    Django builds every backend for every login, DLM's own form's too: the provider's settings
    are therefore read when a provider login needs them, not when the backend is built, so that
    an unreachable provider never breaks the local form."""

    get_settings = staticmethod(provider_setting)
    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: provider_setting("OIDC_OP_TOKEN_ENDPOINT"))
    OIDC_OP_USER_ENDPOINT = property(lambda self: provider_setting("OIDC_OP_USER_ENDPOINT"))
    OIDC_OP_JWKS_ENDPOINT = property(lambda self: provider_setting("OIDC_OP_JWKS_ENDPOINT", None))
    OIDC_RP_CLIENT_ID = property(lambda self: settings.OIDC_RP_CLIENT_ID)
    OIDC_RP_CLIENT_SECRET = property(lambda self: settings.OIDC_RP_CLIENT_SECRET)
    OIDC_RP_SIGN_ALGO = property(lambda self: settings.OIDC_RP_SIGN_ALGO)
    OIDC_RP_IDP_SIGN_KEY = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.UserModel = get_user_model()

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        if request is None or not settings.OIDC_ENABLED or "code" not in request.GET:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except ProviderUnavailable as exc:
            log.warning("a provider login failed: %s", exc)
            return None

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(claims.get("sub"))

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        payload = super().verify_token(token, **kwargs)
        expected = issuer()
        if expected and payload.get("iss", "").rstrip("/") != expected.rstrip("/"):
            raise SuspiciousOperation("The ID token was issued by another issuer")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token is not meant for this client")
        if float(payload.get("exp", 0)) < time.time():
            raise SuspiciousOperation("The ID token has expired")
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        claims = {**payload, **self.get_userinfo(access_token, id_token, payload)}
        if not self.verify_claims(claims) or claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The userinfo answer does not match the ID token")
        return account_for_claims(claims, issuer_name=issuer() or self.OIDC_OP_TOKEN_ENDPOINT)


class LoginStart(OIDCAuthenticationRequestView):
    """Sends the browser to the provider's login (404 without a provider; 503 when it cannot be
    reached)."""

    get_settings = staticmethod(provider_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.unavailable: Exception | None = None
        if not settings.OIDC_ENABLED:
            return
        try:
            super().__init__(*args, **kwargs)
        except ProviderUnavailable as exc:
            self.unavailable = exc

    def get(self, request: Any) -> Any:
        if not settings.OIDC_ENABLED:
            return JsonResponse({"detail": "Not Found"}, status=404)
        if self.unavailable is not None:
            log.warning("login could not start: %s", self.unavailable)
            return render(request, "dlm/login_unavailable.html", status=503)
        return super().get(request)


class LoginCallback(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back; a failed login goes to /login with a message."""

    get_settings = staticmethod(provider_setting)

    def get(self, request: Any) -> Any:
        if not settings.OIDC_ENABLED:
            return JsonResponse({"detail": "Not Found"}, status=404)
        return super().get(request)

    @property
    def failure_url(self) -> str:
        return "/login?failed=1"


# --- provider access tokens as Bearer tokens ----------------------------------------------------


@dataclass(frozen=True)
class ProviderToken:
    """``request.auth`` for a call authenticated by a provider access token."""

    issuer: str
    subject: str
    expires: datetime | None


# sha256(token) -> (remembered until, user id, role name or None or False, ProviderToken)
_SEEN: dict[str, tuple[float, int, Any, ProviderToken]] = {}
_SEEN_MAX = 10_000
_jwks_client: jwt.PyJWKClient | None = None


def forget_provider_tokens(**kwargs: Any) -> None:
    _SEEN.clear()


def _jwks() -> jwt.PyJWKClient:
    global _jwks_client
    if _jwks_client is None:
        _jwks_client = jwt.PyJWKClient(provider_setting("OIDC_OP_JWKS_ENDPOINT"), timeout=settings.OIDC_TIMEOUT)
    return _jwks_client


def _looks_like_jwt(token: str) -> bool:
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        return bool(jwt.get_unverified_header(token).get("alg"))
    except jwt.InvalidTokenError:
        return False


def _jwt_claims(token: str) -> dict[str, Any]:
    try:
        key = _jwks().get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as exc:
        raise ProviderUnavailable(f"The provider's keys could not be read: {exc}") from None
    except jwt.PyJWKClientError:
        raise exceptions.AuthenticationFailed("Invalid token: not signed by a key of the provider.") from None
    audience = settings.DLM_OIDC_AUDIENCE or None
    expected_issuer = issuer() or None
    try:
        return jwt.decode(
            token,
            key.key,
            algorithms=[settings.OIDC_RP_SIGN_ALGO],
            issuer=expected_issuer,
            audience=audience,
            options={"require": ["exp", "sub"] + (["iss"] if expected_issuer else []), "verify_aud": bool(audience)},
            leeway=10,
        )
    except jwt.ExpiredSignatureError:
        raise exceptions.AuthenticationFailed("Invalid token: it has expired.") from None
    except jwt.InvalidIssuerError:
        raise exceptions.AuthenticationFailed("Invalid token: issued by another issuer.") from None
    except jwt.InvalidTokenError as exc:
        raise exceptions.AuthenticationFailed(f"Invalid token: {exc}.") from None


def _userinfo(token: str) -> dict[str, Any]:
    try:
        response = requests.get(
            provider_setting("OIDC_OP_USER_ENDPOINT"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=settings.OIDC_TIMEOUT,
        )
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"The userinfo endpoint could not be reached: {type(exc).__name__}") from None
    if response.status_code in (400, 401, 403):
        raise exceptions.AuthenticationFailed("Invalid token: the provider does not accept it.")
    if response.status_code != 200:
        raise ProviderUnavailable(f"The provider's userinfo endpoint answered {response.status_code}")
    try:
        claims = response.json()
    except ValueError:
        raise ProviderUnavailable("The provider's userinfo endpoint answered no JSON") from None
    if not claims.get("sub"):
        raise exceptions.AuthenticationFailed("Invalid token: the provider names no subject for it.")
    return claims


def provider_token_user(token: str) -> tuple[Any, ProviderToken, Role | None]:
    """The account and role an access token of the provider stands for; ``AuthenticationFailed``
    when the provider does not vouch for it."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    seen = _SEEN.get(digest)
    if seen is not None and seen[0] > time.monotonic():
        _, user_id, role, auth = seen
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return user, auth, role
    try:
        if _looks_like_jwt(token):
            claims = _jwt_claims(token)
            incomplete = settings.DLM_OIDC_USERNAME_CLAIM not in claims or settings.DLM_OIDC_GROUPS_CLAIM not in claims
            if settings.DLM_OIDC_CONFIRM_JWT or incomplete:  # also catches a token revoked before it expires
                answer = _userinfo(token)
                if str(answer.get("sub")) != str(claims.get("sub")):
                    raise exceptions.AuthenticationFailed("Invalid token: the provider names another subject.")
                claims = {**answer, **claims}
        else:
            claims = _userinfo(token)
    except ProviderUnavailable as exc:
        log.warning("a provider token could not be checked: %s", exc)
        raise exceptions.AuthenticationFailed("The OpenID provider could not check the token; try again.") from None
    issuer_name = issuer() or str(claims.get("iss") or settings.OIDC_OP_TOKEN_ENDPOINT)
    user = account_for_claims(claims, issuer_name=issuer_name)
    if not user.is_active:
        raise exceptions.AuthenticationFailed("User inactive or deleted.")
    expires = datetime.fromtimestamp(float(claims["exp"]), UTC) if claims.get("exp") else None
    auth = ProviderToken(issuer=issuer_name, subject=str(claims["sub"]), expires=expires)
    role = user_role(user)
    ttl = settings.DLM_OIDC_USERINFO_CACHE_SECONDS
    if expires is not None:
        ttl = min(ttl, max(0, int(expires.timestamp() - time.time())))
    if ttl > 0:
        if len(_SEEN) >= _SEEN_MAX:
            _SEEN.clear()
        _SEEN[digest] = (time.monotonic() + ttl, user.pk, role, auth)
    return user, auth, role

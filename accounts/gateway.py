"""The rest of upstream's gateway surface (``/scope``, ``/token_by_username_password``) and the
API for one's own tokens."""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from rest_framework import exceptions

from accounts.authentication import BearerTokenAuthentication
from accounts.models import TokenInfo
from accounts.roles import Role, has_role
from accounts.tokens import api_token_create, api_token_revoke, api_token_row, api_tokens_of
from core.contract import Param, operation
from core.errors import FieldError, FieldErrors, InvalidQueryParameters, field_error_entries

# --- /scope ---------------------------------------------------------------------------------------

# Scopes that only read; any other scope changes something.
READ_SCOPES = frozenset({"read", "view", "get", "list", "query"})
# Resources whose changes are an admin's: the rest (data items, ingest, migrations) an operator's.
ADMIN_RESOURCES = frozenset({"storage", "location", "config", "storage_config", "rclone", "user", "token", "admin"})


def needed_role(permission: str) -> Role:
    """The role a permission of upstream's form ``res:<resource>#scope:<scope>`` needs."""
    resource, sep, scope = permission.partition("#")
    resource = resource.removeprefix("res:").strip().lower()
    scope = scope.removeprefix("scope:").strip().lower()
    if not sep or not resource or not scope:
        raise InvalidQueryParameters(
            "permission: expected the form res:<resource>#scope:<scope>, e.g. res:storage#scope:read, "
            f"got {permission!r}"
        )
    if scope in READ_SCOPES:
        return Role.VIEWER
    return Role.ADMIN if resource in ADMIN_RESOURCES else Role.OPERATOR


def token_account(token: str) -> Any | None:
    """The account a DLM or provider token stands for, with its role remembered; None if invalid."""
    if not token:
        return None
    try:
        user, _ = BearerTokenAuthentication().authenticate_credentials(token.encode())
    except exceptions.AuthenticationFailed:
        return None
    return user


@operation(
    "GET",
    "/scope",
    operation_id="scope",
    role=None,
    params=(
        Param("token", required=True, description="A DLM API token or an access token of the OpenID provider"),
        Param("permission", required=True, description="res:<resource>#scope:<scope>, e.g. res:storage#scope:read"),
    ),
    response={
        "type": "object",
        "properties": {
            "is_logged_in": {"type": "boolean"},
            "is_authorized": {"type": "boolean"},
            "missing_permissions": {"type": "array", "items": {"type": "string"}},
        },
    },
    tag="gateway",
)
def scope(request, *, token: str, permission: str) -> dict[str, Any]:
    """Whether a token is valid and its account's role grants a permission.

    Read scopes (read, view, get, list, query) need the viewer role; changes to storages,
    locations and configs need admin; other changes need operator. An invalid token answers
    ``is_logged_in: false``, not an error.
    """
    role = needed_role(permission)
    user = token_account(token)
    authorized = user is not None and has_role(user, role)
    return {
        "is_logged_in": user is not None,
        "is_authorized": authorized,
        "missing_permissions": [] if authorized else [permission],
    }


# --- /token_by_username_password ------------------------------------------------------------------


def _json_error(status: int, detail: Any) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def token_by_username_password(request: HttpRequest) -> JsonResponse:
    """Upstream's password login for scripts, off unless ``DLM_PASSWORD_TOKENS`` is true. Takes
    ``username`` and ``password`` from the query string (upstream's GET) or a form body (POST,
    which keeps the password out of URLs and access logs). With an OpenID provider, the password
    goes to the provider (password grant) and its token answer is passed through; without, the
    account is checked in DLM and a new DLM API token is answered in the same shape."""
    if not settings.DLM_PASSWORD_TOKENS:
        return _json_error(404, "Not enabled: set DLM_PASSWORD_TOKENS=true to log in with a password here")
    source = request.POST if request.method == "POST" else request.GET
    missing = [
        FieldError(name, "missing", "Field required") for name in ("username", "password") if not source.get(name)
    ]
    if missing:  # placed as the contract places them (upstream's shape: query parameters, even for a POST)
        return _json_error(422, field_error_entries(FieldErrors(missing), None))
    username, password = source["username"], source["password"]
    if settings.OIDC_ENABLED:
        return _provider_password_token(username, password)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        return _json_error(401, "Invalid username or password")
    ttl = settings.API_TOKEN_TTL
    _, token = api_token_create(user=user, ttl=ttl, source=TokenInfo.Source.PASSWORD)
    return JsonResponse(
        {"access_token": token, "token_type": "Bearer", "expires_in": int(ttl.total_seconds()), "scope": ""}
    )


def _provider_password_token(username: str, password: str) -> JsonResponse:
    from accounts.oidc import ProviderUnavailable, provider_setting

    try:
        response = requests.post(
            provider_setting("OIDC_OP_TOKEN_ENDPOINT"),
            data={
                "grant_type": "password",
                "username": username,
                "password": password,
                "scope": settings.OIDC_RP_SCOPES,
                "client_id": settings.OIDC_RP_CLIENT_ID,
                "client_secret": settings.OIDC_RP_CLIENT_SECRET,
            },
            timeout=settings.OIDC_TIMEOUT,
        )
    except (requests.RequestException, ProviderUnavailable):
        return _json_error(503, "The OpenID provider could not be reached")
    if response.status_code in (400, 401, 403):
        return _json_error(401, "Invalid username or password")
    if response.status_code != 200:
        return _json_error(502, f"The OpenID provider answered {response.status_code}")
    try:
        return JsonResponse(response.json())
    except ValueError:
        return _json_error(502, "The OpenID provider answered no JSON")


# --- one's own tokens -----------------------------------------------------------------------------

TOKEN_ROW = {
    "type": "object",
    "properties": {
        "token_id": {"type": "string"},
        "name": {"type": "string"},
        "source": {"type": "string"},
        "user": {"type": "string"},
        "created": {"type": "string", "format": "date-time"},
        "expiry": {"type": "string", "format": "date-time", "nullable": True},
        "expired": {"type": "boolean"},
    },
}


@operation(
    "GET",
    "/tokens/list_tokens",
    operation_id="list_tokens",
    role=Role.VIEWER,
    params=(Param("user", description="Another account's tokens (admins only)"),),
    response={"type": "array", "items": TOKEN_ROW},
    tag="tokens",
)
def list_tokens(request, *, user: str | None) -> list[dict[str, Any]]:
    """The caller's API tokens, newest first (never the tokens themselves)."""
    return api_tokens_of(actor=request.user, username=user or "")


@operation(
    "POST",
    "/tokens/create_token",
    operation_id="create_token",
    role=Role.VIEWER,
    params=(
        Param("name", description="A name to recognise the token by"),
        Param("days", kind="int", description="Days until it expires (default DLM_API_TOKEN_TTL_DAYS)"),
    ),
    response={"type": "object", "properties": {"token": {"type": "string"}, **TOKEN_ROW["properties"]}},
    tag="tokens",
)
def create_token(request, *, name: str | None, days: int | None) -> dict[str, Any]:
    """A new API token for the caller; the answer is the only time the token is shown."""
    row, token = api_token_create(user=request.user, days=days, name=name or "", source=TokenInfo.Source.API)
    return {"token": token, **api_token_row(row)}


@operation(
    "POST",
    "/tokens/revoke_token",
    operation_id="revoke_token",
    role=Role.VIEWER,
    params=(Param("token_id", required=True, description="The token's token_id (see list_tokens)"),),
    response=TOKEN_ROW,
    tag="tokens",
    errors={404: "No such token (of the caller's, unless an admin)"},
)
def revoke_token(request, *, token_id: str) -> dict[str, Any]:
    """Revoke one of the caller's tokens (an admin: anyone's). It stops working at once."""
    return api_token_revoke(actor=request.user, token_id=token_id)

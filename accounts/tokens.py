"""API tokens and accounts: the service behind ``create_api_token``, /token_by_auth_flow, the tokens
page and the tokens API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.exceptions import PermissionDenied

from accounts.models import TokenInfo
from accounts.roles import Role, has_role
from core.errors import InvalidQueryParameters, ObjectNotFound

NAME_MAX = TokenInfo._meta.get_field("name").max_length
MAX_TOKEN_DAYS = 3650  # the longest a token may live: ten years


def account_ensure(*, username: str, role: Role | None = None) -> object:
    """The account ``username``, created if needed; with ``role``, its role becomes exactly that."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    if role is not None:
        account_role_set(user=user, role=role)
    return user


def account_role_set(*, user, role: Role | None) -> None:
    """Make ``role`` the account's only role group (None: no role)."""
    with transaction.atomic():
        user.groups.remove(*Group.objects.filter(name__in=Role.values))
        if role is not None:
            user.groups.add(Group.objects.get_or_create(name=role.value)[0])


def api_token_create(
    *,
    user,
    ttl: timedelta | None = None,
    days: int | None = None,
    name: str = "",
    source: str = TokenInfo.Source.COMMAND,
) -> tuple[AuthToken, str]:
    """A new API token for ``user``; the plaintext is returned once and only its hash is stored.
    Its lifetime is ``ttl``, or ``days`` (1 to ``MAX_TOKEN_DAYS``), else ``DLM_API_TOKEN_TTL_DAYS``;
    ``name`` defaults to one made of the source and date."""
    if days is not None:
        if not 1 <= days <= MAX_TOKEN_DAYS:
            raise InvalidQueryParameters(f"days: between 1 and {MAX_TOKEN_DAYS}")
        ttl = timedelta(days=days)
    name = name.strip()
    if len(name) > NAME_MAX:
        raise InvalidQueryParameters(f"name: at most {NAME_MAX} characters")
    if ttl is not None and ttl <= timedelta(0):
        raise InvalidQueryParameters("days: a token must live at least a day")
    with transaction.atomic():
        row, token = AuthToken.objects.create(user=user, expiry=ttl or settings.API_TOKEN_TTL)
        label = name or f"{TokenInfo.Source(source).label} {timezone.now():%Y-%m-%d %H:%M}"
        TokenInfo.objects.create(token=row, name=label, source=source)
    return row, token


def api_token_row(row: AuthToken) -> dict[str, Any]:
    """What a token's owner may see of it: never the token or its hash."""
    info = getattr(row, "info", None)
    return {
        "token_id": row.token_key,
        "name": info.name if info else "",
        "source": info.source if info else "",
        "user": row.user.get_username(),
        "created": row.created.isoformat(),
        "expiry": row.expiry.isoformat() if row.expiry else None,
        "expired": bool(row.expiry and row.expiry < timezone.now()),
    }


def api_tokens_of(*, actor, username: str = "") -> list[dict[str, Any]]:
    """The API tokens of the actor (an admin may name another account), newest first."""
    rows = AuthToken.objects.select_related("user", "info").order_by("-created", "token_key")
    if username and username != actor.get_username():
        if not has_role(actor, Role.ADMIN):
            raise PermissionDenied("Listing another account's tokens needs the admin role.")
        rows = rows.filter(user__username=username)
    else:
        rows = rows.filter(user=actor)
    return [api_token_row(row) for row in rows]


def api_token_revoke(*, actor, token_id: str) -> dict[str, Any]:
    """Revoke a token by its ``token_id``: the actor's own, or anyone's for an admin."""
    rows = AuthToken.objects.select_related("user", "info").filter(token_key=token_id)
    if not has_role(actor, Role.ADMIN):
        rows = rows.filter(user=actor)
    row = rows.first()
    if row is None:
        raise ObjectNotFound(f"No token {token_id!r} of yours" if not has_role(actor, Role.ADMIN) else
                             f"No token {token_id!r}")  # fmt: skip
    answer = api_token_row(row)
    row.delete()
    return answer

"""API tokens and accounts: the service behind ``create_api_token`` (and, later, the token pages)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from knox.models import AuthToken

from dlm.roles import Role


def account_ensure(*, username: str, role: Role | None = None) -> object:
    """The account ``username``, created if needed; with ``role``, its role becomes exactly that."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    if role is not None:
        with transaction.atomic():
            user.groups.remove(*Group.objects.filter(name__in=Role.values))
            user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


def api_token_create(*, user, ttl: timedelta | None = None) -> tuple[AuthToken, str]:
    """A new API token for ``user``; the plaintext is returned once and only its hash is stored."""
    return AuthToken.objects.create(user=user, expiry=ttl)

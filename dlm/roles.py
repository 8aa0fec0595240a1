"""DLM's three roles, kept as Django groups: viewer ⊂ operator ⊂ admin."""

from __future__ import annotations

from django.db import models
from rest_framework.permissions import BasePermission


class Role(models.TextChoices):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def user_role(user) -> Role | None:
    """The highest role of an account (superusers are admins), or None. Cached on the user."""
    if not user or not user.is_authenticated or not user.is_active:
        return None
    cached = getattr(user, "_dlm_role", False)
    if cached is not False:
        return cached
    if user.is_superuser:
        role = Role.ADMIN
    else:
        names = set(user.groups.values_list("name", flat=True))
        held = [r for r in Role if r.value in names]
        role = max(held, key=_RANK.__getitem__) if held else None
    user._dlm_role = role
    return role


def has_role(user, needed: Role) -> bool:
    """True when the account's role includes ``needed``."""
    role = user_role(user)
    return role is not None and _RANK[role] >= _RANK[needed]


def role_permission(needed: Role) -> type[BasePermission]:
    """A DRF permission class admitting accounts that hold ``needed`` (or a higher role)."""

    class HasRole(BasePermission):
        message = f"This operation needs the {needed.value} role."

        def has_permission(self, request, view) -> bool:
            return has_role(request.user, needed)

    HasRole.__name__ = f"Has{needed.value.title()}Role"
    return HasRole

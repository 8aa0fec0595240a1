"""DLM's three roles, kept as Django groups: viewer ⊂ operator ⊂ admin."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Case, OuterRef, Subquery, Value, When
from rest_framework.permissions import BasePermission


class Role(models.TextChoices):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def highest_role(roles) -> Role | None:
    """The highest of ``roles`` (None for none)."""
    roles = list(roles)
    return max(roles, key=_RANK.__getitem__) if roles else None


def role_subquery(user_ref: str) -> Subquery:
    """An annotation: the name of the highest role group of the account ``user_ref`` points at."""
    rank = Case(*(When(name=role.value, then=Value(n)) for role, n in _RANK.items()), default=Value(0))
    groups = Group.objects.filter(user=OuterRef(user_ref), name__in=Role.values).annotate(rank=rank)
    return Subquery(groups.order_by("-rank").values("name")[:1])


def remember_role(user, role_name: str | None) -> None:
    """Record the role found with the account (by ``role_subquery``), sparing a query later."""
    user._dlm_role = Role.ADMIN if user.is_superuser else (Role(role_name) if role_name else None)


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

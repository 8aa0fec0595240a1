"""What every page's template knows about the account looking at it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.roles import Role, has_role, user_role


def account(request: HttpRequest) -> dict[str, Any]:
    """``role`` (or None), and whether the account may act as an operator or an admin."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"role": None, "is_operator": False, "is_admin": False}
    return {
        "role": user_role(user),
        "is_operator": has_role(user, Role.OPERATOR),
        "is_admin": has_role(user, Role.ADMIN),
    }

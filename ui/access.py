"""Who may see a page: a logged-in account (else the login page), with a role (else 403 naming it)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.roles import Role, has_role, user_role


def role_required(role: Role) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A page for accounts holding ``role`` (or a higher one). Logged out: to the login page and
    back; too little role: 403 with a page that names the role needed."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, role):
                context = {"needed": role.value, "role": user_role(request.user)}
                return render(request, "ui/forbidden.html", context, status=403)
            return view(request, *args, **kwargs)

        return guarded

    return decorate

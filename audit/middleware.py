"""The actor of a logged-in browser's requests: the Django admin and the web UI."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from core.actor import Auth, Via, acting_for_request

# Requests that change nothing (as HTTP means them): no actor, no cost.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class AuditActorMiddleware:
    """Sets the actor for the non-GET requests of a logged-in (session) user: ``via`` ``admin``
    under ``/admin/``, else ``ui``; the operation is ``admin:<url name>`` or ``ui:<url name>``
    (the path when the URL has no name). Goes after ``AuthenticationMiddleware``.

    API calls with a token are not session requests: ``core.contract`` sets their actor.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in SAFE_METHODS:
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        via = Via.ADMIN if request.path_info.startswith("/admin/") else Via.UI
        with acting_for_request(request, auth=Auth.SESSION, via=via, operation=f"{via.value}:{_url_name(request)}"):
            return self.get_response(request)


def _url_name(request: HttpRequest) -> str:
    try:
        return resolve(request.path_info).url_name or request.path_info
    except Resolver404:
        return request.path_info

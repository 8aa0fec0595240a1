"""Request metrics: each answered contract operation, counted by operation id, method and status,
with its latency (``events.metrics``). Other paths (the web UI, the admin, unknown paths) are
not counted: their label values would be unbounded or of no use to an alert."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from events.metrics import observe_api_request


def _operation_id(request: HttpRequest) -> str | None:
    """The contract operation the request was routed to (``core.contract.build_view``), or None."""
    match = getattr(request, "resolver_match", None)
    view_class = getattr(getattr(match, "func", None), "view_class", None)
    operation = getattr(view_class, "operation", None)
    return getattr(operation, "operation_id", None)


class ApiMetricsMiddleware:
    """Observes every contract operation's answer, errors (4xx, 5xx) included."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        operation = _operation_id(request)
        if operation is not None:
            observe_api_request(
                operation=operation,
                method=request.method or "",
                status=response.status_code,
                seconds=time.perf_counter() - started,
            )
        return response

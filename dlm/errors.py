"""DLM's error shapes, in one exception handler.

Three shapes, as ska-dlm clients expect them:

* parameter validation: ``422 {"detail": [{"type", "loc", "msg", "input"}, ...]}``;
* domain errors: ``{"exec": "<ExceptionClassName>", "message": "<text>"}`` with the status of the
  class (422 for most, 409 for database conflicts, 404 for an unknown object);
* authentication and routing: ``{"detail": "<text>"}``.

Anything else is a bug: it is logged and answered ``500 Internal Server Error`` in plain text,
without details.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DataError, IntegrityError
from django.http import HttpResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger("dlm.errors")


class DataLifecycleError(Exception):
    """Base of the domain errors. ``str()`` is the message shown to the client."""

    status_code = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidQueryParameters(DataLifecycleError):
    """A bad combination of arguments."""


class ValueAlreadyInDB(DataLifecycleError):
    """The object exists already."""


class UnmetPreconditionForOperation(DataLifecycleError):
    """A lookup failed or a precondition of the operation was not met."""


class DatabaseOperationError(DataLifecycleError):
    """The database refused the write (a conflicting or dangling reference)."""

    status_code = 409


class ObjectNotFound(UnmetPreconditionForOperation):
    """The object named by an identifier does not exist (upstream answers 500 here)."""

    status_code = 404


class RequestValidationError(Exception):
    """One or more parameters failed validation; ``errors`` are the ``detail`` entries."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid parameter(s)")
        self.errors = errors


def validation_error(kind: str, loc: list[Any], msg: str, value: Any, ctx: dict[str, Any] | None = None) -> dict:
    """One ``detail`` entry in the contract's shape."""
    entry: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx:
        entry["ctx"] = ctx
    return entry


_ROUTING_TEXT = {
    drf_exceptions.MethodNotAllowed: "Method Not Allowed",
    drf_exceptions.NotFound: "Not Found",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | HttpResponse:
    """Turn any exception raised under the API into one of DLM's error shapes."""
    if isinstance(exc, RequestValidationError):
        return Response({"detail": exc.errors}, status=422)
    if isinstance(exc, DataLifecycleError):
        return Response({"exec": type(exc).__name__, "message": exc.message}, status=exc.status_code)
    if isinstance(exc, IntegrityError):
        # A race lost against a concurrent write of the same unique value, or a dangling reference.
        first_line = str(exc).splitlines()[0] if str(exc) else "integrity error"
        return Response(
            {"exec": "DatabaseOperationError", "message": f"Database conflict: {first_line}"},
            status=409,
        )
    if isinstance(exc, DataError):
        # A value the database cannot store (too long, out of range) that no check caught first.
        first_line = str(exc).splitlines()[0] if str(exc) else "invalid value"
        return Response({"exec": "InvalidQueryParameters", "message": f"Value not accepted: {first_line}"}, status=422)
    for cls, text in _ROUTING_TEXT.items():
        if isinstance(exc, cls):
            return Response({"detail": text}, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    view = context.get("view")
    log.error("Unhandled error in %s", type(view).__name__ if view else "API", exc_info=exc)
    return HttpResponse("Internal Server Error", status=500, content_type="text/plain; charset=utf-8")

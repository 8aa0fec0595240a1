"""DLM's domain errors, and the contract's error shapes they become, in one exception handler.

Services and selectors speak the domain: a ``FieldError`` names the field it refuses and the kind
of refusal; a ``DataLifecycleError`` subclass says what went wrong with the operation (and, where
one field is to blame, names it). Only ``exception_handler`` knows the wire, and its three shapes,
as ska-dlm clients expect them:

* parameter validation: ``422 {"detail": [{"type", "loc", "msg", "input"}, ...]}``;
* domain errors: ``{"exec": "<ExceptionClassName>", "message": "<text>"}`` with the status of the
  class (422 for most, 409 for database conflicts, 404 for an unknown object);
* authentication and routing: ``{"detail": "<text>"}``.

Anything else is a bug: it is logged and answered ``500 Internal Server Error`` in plain text,
without details.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import DataError, IntegrityError
from django.http import HttpResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

if TYPE_CHECKING:
    from core.params import ParamError

log = logging.getLogger("dlm.errors")


class DataLifecycleError(Exception):
    """Base of the domain errors. ``str()`` is the message shown to the client; ``field``, when
    given, is the input the refusal is about (a form shows the message there)."""

    status_code = 422

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


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


class FieldError(Exception):
    """One input value the domain refuses: the ``field`` it came in (an operation's parameter or
    body name), the ``kind`` of refusal (``missing``, ``value_error``, ``string_too_long``,
    ``json_invalid``…), a readable ``message``, the ``value`` refused, and ``at``: the position
    inside a structured value (keys and indexes), if the refusal is about a part of it."""

    def __init__(
        self,
        field: str,
        kind: str,
        message: str,
        value: Any = None,
        *,
        at: tuple[Any, ...] = (),
        ctx: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.kind = kind
        self.message = message
        self.value = value
        self.at = tuple(at)
        self.ctx = ctx

    @classmethod
    def unparsed(cls, field: str, exc: ParamError, value: Any, *, at: tuple[Any, ...] = ()) -> FieldError:
        """The refusal of a value that a ``core.params`` parser could not read."""
        return cls(field, exc.kind, exc.msg, value, at=at, ctx=exc.ctx)


class FieldErrors(Exception):
    """Several refused values, reported together."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = list(errors)


def field_errors(exc: FieldError | FieldErrors) -> list[FieldError]:
    """The ``FieldError``s of either kind of exception."""
    return exc.errors if isinstance(exc, FieldErrors) else [exc]


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


def field_loc(error: FieldError, operation: Any) -> list[Any]:
    """Where the contract places a refused field: ``["query", name, …]`` for a query parameter,
    ``["body", …]`` inside the operation's body (its body's own name stands for the whole body),
    ``["body", name, …]`` for any other field of an operation that has a body. Without an
    operation (a plain view reading the query string), every field is a query parameter."""
    body = getattr(operation, "body", None)
    if body is not None and error.field == body.name:
        return ["body", *error.at]
    params = {param.name for param in getattr(operation, "params", ())}
    if body is not None and error.field not in params:
        return ["body", error.field, *error.at]
    return ["query", error.field, *error.at]


def field_error_entries(exc: FieldError | FieldErrors, operation: Any) -> list[dict[str, Any]]:
    """The contract's ``detail`` entries for refused fields of ``operation``."""
    return [
        validation_error(error.kind, field_loc(error, operation), error.message, error.value, error.ctx)
        for error in field_errors(exc)
    ]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | HttpResponse:
    """Turn any exception raised under the API into one of DLM's error shapes."""
    if isinstance(exc, FieldError | FieldErrors):
        operation = getattr(context.get("view"), "operation", None)
        return Response({"detail": field_error_entries(exc, operation)}, status=422)
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

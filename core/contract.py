"""The declarative layer of the ska-dlm contract.

The contract is RPC-shaped: each operation is a method on a fixed path, with scalar parameters
in the query string and at most one raw JSON object as body. An ``@operation`` declaration names
all of that once; from it come the URL, the thin DRF view that parses and validates the input,
the role check, and the OpenAPI description. The decorated function is the view's body: it gets
the parsed values as keyword arguments, calls a service, and returns the JSON to send.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.http.response import HttpResponseBase
from django.urls import path as url_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import params as p
from core.actor import Via, acting_for_request, request_auth
from core.errors import RequestValidationError, validation_error
from core.jsoncheck import json_problem

_MISSING = object()


@dataclass(frozen=True)
class Param:
    """A query parameter. ``kind`` is one of str, int, bool, uuid, datetime, timedelta, enum.

    Empty text is the same as an absent parameter for every kind but required ``str``, where
    the operation itself decides what an empty value means (as upstream does).
    """

    name: str
    kind: str = "str"
    required: bool = False
    default: Any = None
    choices: type[models.TextChoices] | None = None
    description: str = ""

    def parse(self, raw: str | None) -> Any:
        if raw is None or (raw == "" and not (self.required and self.kind == "str")):
            if self.required:
                raise p.ParamError("missing", "Field required")
            return self.default
        match self.kind:
            case "str":
                if "\x00" in raw:  # no database text column can hold it (PostgreSQL: a 500)
                    raise p.ParamError("string_type", "Input should not contain NUL characters")
                return raw
            case "int":
                return p.parse_int(raw)
            case "bool":
                return p.parse_bool(raw)
            case "uuid":
                return p.parse_uuid(raw)
            case "datetime":
                return p.parse_datetime(raw)
            case "timedelta":
                return p.parse_timedelta(raw)
            case "enum":
                return p.parse_enum(raw, self.choices)
        raise AssertionError(f"unknown parameter kind {self.kind}")

    def openapi(self) -> OpenApiParameter:
        types = {
            "str": OpenApiTypes.STR,
            "int": OpenApiTypes.INT,
            "bool": OpenApiTypes.BOOL,
            "uuid": OpenApiTypes.UUID,
            "datetime": OpenApiTypes.DATETIME,
            "timedelta": OpenApiTypes.DURATION,
            "enum": OpenApiTypes.STR,
        }
        return OpenApiParameter(
            self.name,
            types[self.kind],
            location=OpenApiParameter.QUERY,
            required=self.required,
            enum=list(self.choices.values) if self.choices else None,
            default=self.default if isinstance(self.default, str | int | bool) else None,
            description=self.description,
        )


# An identifier that must be a UUID: a malformed one is a 422 naming it (upstream: 500).
def uuid_param(name: str, *, required: bool = False, description: str = "") -> Param:
    return Param(name, "uuid", required=required, description=description)


@dataclass(frozen=True)
class Body:
    """The operation's raw JSON object body, passed to the function as ``name`` (with ``array``:
    a JSON array instead of an object). ``schema``: its OpenAPI schema, if more than "an object"."""

    name: str
    required: bool = False
    description: str = ""
    array: bool = False
    schema: Any = None


@dataclass
class Operation:
    method: str
    path: str
    operation_id: str
    role: str | None
    params: tuple[Param, ...]
    body: Body | None
    response: Any
    summary: str
    description: str
    tag: str
    func: Callable[..., Any]
    extra_responses: dict[int, Any] = field(default_factory=dict)


REGISTRY: list[Operation] = []

# The permission class admitting the accounts that hold a role: registered by the accounts app
# (``use_role_permission``), which knows what a role is; the contract only names them.
_role_permission: Callable[[str], type[BasePermission]] | None = None


def use_role_permission(factory: Callable[[str], type[BasePermission]]) -> None:
    """Make ``factory(role)`` the permission class of every operation that names a role."""
    global _role_permission
    _role_permission = factory


def _permission(role: str) -> type[BasePermission]:
    if _role_permission is None:
        raise AssertionError("no role permission registered: is the accounts app installed?")
    return _role_permission(role)


def operation(
    method: str,
    path: str,
    *,
    operation_id: str,
    role: str | None,
    params: tuple[Param, ...] = (),
    body: Body | None = None,
    response: Any = OpenApiTypes.OBJECT,
    tag: str,
    errors: dict[int, str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a contract operation served by the decorated function.

    The function is called with ``request`` and the parsed parameters (and body) as keyword
    arguments, and returns JSON-serialisable data, sent with status 200.
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        doc = (func.__doc__ or "").strip()
        summary, _, description = doc.partition("\n")
        REGISTRY.append(
            Operation(
                method=method.upper(),
                path=path,
                operation_id=operation_id,
                role=role,
                params=params,
                body=body,
                response=response,
                summary=summary.strip(),
                description=description.strip(),
                tag=tag,
                func=func,
                extra_responses=errors or {},
            )
        )
        return func

    return register


def parse_body(request: Request, body: Body) -> dict[str, Any] | None:
    """The raw JSON object of the request, as the contract reads it (§2.4)."""
    raw = request._request.body  # the unparsed bytes: DLM parses bodies itself
    content_type = request.content_type.split(";")[0].strip().lower()
    is_json = content_type in ("", "application/json") or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )
    if not raw.strip():
        if body.required:
            raise RequestValidationError([validation_error("missing", ["body"], "Field required", None)])
        return None
    if not is_json:
        raise RequestValidationError(
            [
                validation_error(
                    "dict_type", ["body"], "Input should be a valid dictionary", raw.decode(errors="replace")
                )
            ]
        )
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deeply
        position = getattr(exc, "pos", 0)
        raise RequestValidationError(
            [
                validation_error(
                    "json_invalid",
                    ["body", position],
                    "JSON decode error",
                    {},
                    {"error": getattr(exc, "msg", str(exc))},
                )
            ]
        ) from None
    if value is None and not body.required:
        return None
    if body.array and not isinstance(value, list):
        raise RequestValidationError([validation_error("list_type", ["body"], "Input should be a valid list", value)])
    if not body.array and not isinstance(value, dict):
        raise RequestValidationError(
            [validation_error("dict_type", ["body"], "Input should be a valid dictionary", value)]
        )
    problem = json_problem(value)
    if problem is not None:
        kind, at, msg = problem
        raise RequestValidationError([validation_error(kind, ["body", *at], msg, None)])
    return value


def _parse_all(request: Request, op: Operation) -> dict[str, Any]:
    values: dict[str, Any] = {}
    errors = []
    query = request._request.GET
    for param in op.params:
        raw_values = query.getlist(param.name)
        raw = raw_values[-1] if raw_values else None  # a repeated parameter: the last one wins
        try:
            values[param.name] = param.parse(raw)
        except p.ParamError as exc:
            errors.append(validation_error(exc.kind, ["query", param.name], exc.msg, raw, exc.ctx))
    if op.body is not None:
        try:
            values[op.body.name] = parse_body(request, op.body)
        except RequestValidationError as exc:
            errors.extend(exc.errors)
    if errors:
        raise RequestValidationError(errors)
    return values


def _error_schema() -> dict[int, OpenApiResponse]:
    return {
        401: OpenApiResponse(description='Missing or invalid bearer token: `{"detail": …}`'),
        403: OpenApiResponse(description='The token\'s account lacks the role: `{"detail": …}`'),
        422: OpenApiResponse(
            description=(
                'Invalid parameters (`{"detail": [{"type", "loc", "msg", "input"}]}`) or a domain '
                'error (`{"exec": "<ExceptionName>", "message": …}`)'
            )
        ),
    }


def _response(result: Any) -> HttpResponseBase:
    """An operation's answer: its value as JSON, or the response it made itself (a file sent as
    it is read, such as a scan's CSV report)."""
    return result if isinstance(result, HttpResponseBase) else Response(result)


class AnswerJson(DefaultContentNegotiation):
    """The contract's operations answer JSON whatever the request's ``Accept`` header asks (as
    upstream's service does), without weighing the header: DRF's negotiation, for the one renderer
    there is, cost an API call a tenth of a millisecond, and a 406 for ``Accept: text/html``."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def build_view(op: Operation) -> type[APIView]:
    """A DRF view class serving one operation."""

    changes = op.method != "GET"  # GETs are not audited, and pay nothing for it

    def handle(self: APIView, request: Request) -> HttpResponseBase:
        values = _parse_all(request, op)
        if not changes:
            return _response(op.func(request, **values))
        # The audit trail's actor: what the operation changes is recorded as changed by this caller.
        with acting_for_request(request, auth=request_auth(request), via=Via.API, operation=op.operation_id):
            return _response(op.func(request, **values))

    responses: dict[int, Any] = {200: op.response}
    if op.role is not None:
        responses.update(_error_schema())
    for status, text in op.extra_responses.items():
        responses[status] = OpenApiResponse(description=text)
    request_schema = None
    if op.body:
        default = {"type": "array", "items": {"type": "object"}} if op.body.array else OpenApiTypes.OBJECT
        request_schema = {"application/json": op.body.schema or default}
    schema = extend_schema(
        operation_id=op.operation_id,
        summary=op.summary,
        description=op.description,
        tags=[op.tag],
        parameters=[param.openapi() for param in op.params],
        request=request_schema,
        responses=responses,
        auth=[] if op.role is None else None,
    )
    attrs: dict[str, Any] = {
        op.method.lower(): schema(handle),
        "permission_classes": [AllowAny] if op.role is None else [_permission(op.role)],
        "content_negotiation_class": AnswerJson,
        "operation": op,
        "__doc__": op.summary,
    }
    if op.role is None:
        attrs["authentication_classes"] = []
    name = "".join(part.title() for part in op.operation_id.split("_")) + "Api"
    return type(name, (APIView,), attrs)


def urlpatterns_for(operations: list[Operation]) -> list:
    """One ``path()`` per contract path; several methods on one path share it."""
    by_path: dict[str, list[Operation]] = {}
    for op in operations:
        by_path.setdefault(op.path, []).append(op)
    patterns = []
    for route, ops in by_path.items():
        if len(ops) != 1:
            raise AssertionError(f"{route}: one operation per path is supported")
        op = ops[0]
        patterns.append(url_path(route.lstrip("/"), build_view(op).as_view(), name=op.operation_id))
    return patterns


def mark_required_bodies(result: dict, generator, request, public) -> dict:
    """drf-spectacular hook: a raw JSON body that an operation requires is ``required`` in the schema."""
    for op in REGISTRY:
        if op.body is not None and op.body.required:
            schema_op = result["paths"].get(op.path, {}).get(op.method.lower())
            if schema_op and "requestBody" in schema_op:
                schema_op["requestBody"]["required"] = True
    return result

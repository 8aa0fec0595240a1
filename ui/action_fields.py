"""An action's form fields, read as the API operation of the same effect reads its parameters.

The web UI's actions take the values their API operations take (``core.contract.REGISTRY``
declares them), and refuse what those refuse with the same messages, each naming its field.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any

from django.http import QueryDict

from core import params as p
from core.contract import REGISTRY, Param
from core.errors import FieldError, FieldErrors


@cache
def contract_params(operation_id: str) -> dict[str, Param]:
    """The query parameters the API operation ``operation_id`` declares, by name."""
    for op in REGISTRY:
        if op.operation_id == operation_id:
            return {param.name: param for param in op.params}
    raise LookupError(f"no API operation {operation_id}")


def form_values(data: QueryDict, operation_id: str, names: Iterable[str]) -> dict[str, Any]:
    """The form fields ``names``, read as the API operation ``operation_id`` reads its parameters
    of the same names; raises ``FieldErrors`` naming each field that cannot be read."""
    params = contract_params(operation_id)
    values: dict[str, Any] = {}
    errors = []
    for name in names:
        raw = data.get(name)
        try:
            values[name] = params[name].parse(raw)
        except p.ParamError as exc:
            errors.append(FieldError.unparsed(name, exc, raw))
    if errors:
        raise FieldErrors(errors)
    return values


def form_datetime(name: str, raw: str) -> datetime:
    """A timestamp field, read as the API reads one (a time without an offset is UTC)."""
    try:
        return p.parse_datetime(raw)
    except p.ParamError as exc:
        raise FieldError.unparsed(name, exc, raw) from None

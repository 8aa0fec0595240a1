"""Validation of JSON bodies that name table columns (``init_data_item``, ``update_data_item``,
the ``init_storage`` body, the ``params`` filter of ``query_data_item``).

Upstream passes such bodies verbatim to the database, so an unknown column or a bad value is a
500 there. Here every key is checked against the model: each bad key is refused by name (the
API answers a 422 whose ``detail`` lists them), and nothing is written.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from core import params as p
from core.errors import FieldError, FieldErrors

# Subclasses before IntegerField (both are subclasses of it): the first isinstance match wins.
_INT_RANGES = {
    models.SmallIntegerField: (-(2**15), 2**15 - 1),
    models.BigIntegerField: (-(2**63), 2**63 - 1),
    models.IntegerField: (-(2**31), 2**31 - 1),
}


def column_fields(model: type[models.Model]) -> dict[str, models.Field]:
    """The model's concrete fields by column name (``storage_id`` for the storage FK)."""
    return {f.column: f for f in model._meta.concrete_fields if not isinstance(f, _hidden_fields())}


def _hidden_fields() -> tuple[type, ...]:
    from core.crypto import EncryptedJSONField

    return (EncryptedJSONField,)


def clean_value(field: models.Field, value: Any) -> Any:
    """The value in the field's Python form; raises ``p.ParamError`` when it does not fit."""
    if value is None:
        if not field.null:
            raise p.ParamError("missing", "Input should not be null")
        return None
    if isinstance(field, models.JSONField):
        return value
    if isinstance(field, models.ForeignKey | models.UUIDField):
        if not isinstance(value, str):
            raise p.ParamError("uuid_type", "Input should be a UUID string")
        return p.parse_uuid(value)
    if isinstance(field, models.DateTimeField):
        if not isinstance(value, str):
            raise p.ParamError("datetime_type", "Input should be an ISO-8601 timestamp string")
        return p.parse_datetime(value)
    if isinstance(field, models.BooleanField):
        if not isinstance(value, bool):
            raise p.ParamError("bool_type", "Input should be true or false")
        return value
    if isinstance(field, models.DecimalField):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise p.ParamError("decimal_type", "Input should be a number")
        try:
            return field.clean(value, None)
        except ValidationError as exc:
            raise p.ParamError("decimal_parsing", "; ".join(exc.messages)) from None
    for cls, (low, high) in _INT_RANGES.items():
        if isinstance(field, cls):
            if isinstance(value, bool) or not isinstance(value, int):
                raise p.ParamError("int_type", "Input should be a valid integer")
            if not low <= value <= high:
                raise p.ParamError("int_range", f"Input should be between {low} and {high}")
            return value
    if isinstance(field, models.CharField | models.TextField):
        if not isinstance(value, str):
            raise p.ParamError("string_type", "Input should be a valid string")
        if "\x00" in value:
            raise p.ParamError("string_type", "Input should not contain NUL characters")
        if field.choices and value not in {choice for choice, _ in field.choices}:
            expected = ", ".join(f"'{choice}'" for choice, _ in field.choices)
            raise p.ParamError("enum", f"Input should be one of {expected}", {"expected": expected})
        if field.max_length and len(value) > field.max_length:
            raise p.ParamError("string_too_long", f"String should have at most {field.max_length} characters")
        return value
    raise AssertionError(f"no JSON form for {type(field).__name__}")


def clean_columns(
    model: type[models.Model],
    data: dict[str, Any],
    *,
    read_only: frozenset[str] = frozenset(),
    field: str | None = None,
) -> dict[str, Any]:
    """``data`` keyed by column, checked and converted; keys are the fields' attribute names.

    ``field`` is the input that holds ``data`` as one JSON object (a body, a JSON parameter): each
    refusal names it, at the key. Without it, each key is an input of its own.
    Raises ``FieldErrors`` naming every unknown, read-only or badly typed key.
    """
    fields = column_fields(model)
    cleaned: dict[str, Any] = {}
    errors = []

    def refuse(key: str, kind: str, msg: str, value: Any, ctx: dict[str, Any] | None = None) -> None:
        name, at = (field, (key,)) if field is not None else (key, ())
        errors.append(FieldError(name, kind, msg, value, at=at, ctx=ctx))

    for key, value in data.items():
        column = fields.get(key)
        if column is None:
            refuse(key, "extra_forbidden", f"Unknown column '{key}'", value)
            continue
        if key in read_only:
            refuse(key, "read_only", f"Column '{key}' cannot be set", value)
            continue
        try:
            cleaned[column.attname] = clean_value(column, value)
        except p.ParamError as exc:
            refuse(key, exc.kind, exc.msg, value, exc.ctx)
    if errors:
        raise FieldErrors(errors)
    return cleaned

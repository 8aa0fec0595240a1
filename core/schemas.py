"""OpenAPI descriptions of the scalars and rows the contract's operations return."""

from __future__ import annotations

from typing import Any

from django.db import models

STRING: dict[str, Any] = {"type": "string"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}


def _field_schema(field: models.Field) -> dict[str, Any]:
    if isinstance(field, models.JSONField):
        schema: dict[str, Any] = {}
    elif isinstance(field, models.ForeignKey | models.UUIDField):
        schema = {"type": "string", "format": "uuid"}
    elif isinstance(field, models.DateTimeField):
        schema = {"type": "string", "format": "date-time", "description": "naive UTC, ISO-8601"}
    elif isinstance(field, models.BooleanField):
        schema = {"type": "boolean"}
    elif isinstance(field, models.DecimalField):
        schema = {"type": "number"}
    elif isinstance(field, models.IntegerField):
        schema = {"type": "integer", "format": "int64" if isinstance(field, models.BigIntegerField) else "int32"}
    else:
        schema = {"type": "string"}
        if field.choices:
            schema["enum"] = [choice for choice, _ in field.choices]
    if field.null and schema:
        schema["nullable"] = True
    return schema


def row_schema(model: type[models.Model], columns: list[tuple[str, str]]) -> dict[str, Any]:
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    return {
        "type": "object",
        "properties": {key: _field_schema(by_attname[attr]) for key, attr in columns},
    }


def list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def subset(row: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": {key: row["properties"][key] for key in keys}}

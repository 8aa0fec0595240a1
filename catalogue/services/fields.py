"""What the services that write a location or a storage row share: setting columns by attribute
name, and the model's own field checks turned into refusals that name their fields."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

from core.errors import FieldError, FieldErrors


def columns_assign(instance: models.Model, fields: dict[str, Any]) -> list[str]:
    """Set ``fields`` (values by attribute name: ``location_id`` for a reference) on ``instance``;
    the names set, for ``save(update_fields=…)``. A name that is not an editable column of the
    model (its primary key, an unknown name) is refused, and nothing is set."""
    editable = {field.attname for field in instance._meta.concrete_fields if field.editable and not field.primary_key}
    refused = [FieldError(key, "read_only", f"Column '{key}' cannot be set", value) for key, value in fields.items()]
    refused = [error for error in refused if error.field not in editable]
    if refused:
        raise FieldErrors(refused)
    for key, value in fields.items():
        setattr(instance, key, value)
    return list(fields)


def _value(instance: models.Model, name: str) -> Any:
    try:
        return getattr(instance, instance._meta.get_field(name).attname)
    except FieldDoesNotExist:
        return None


def model_clean(instance: models.Model, *, body: str | None = None) -> None:
    """Run the model's field checks (lengths, choices, ranges, blanks) on ``instance``.

    Each refused column is a ``FieldError`` (kind ``value_error``) named after it; when the values
    came in as one body of columns, named after ``body`` at that column. Uniqueness is the
    caller's to check, with its own words."""
    try:
        instance.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise FieldErrors(
            [
                FieldError(
                    body or name,
                    "value_error",
                    "; ".join(messages),
                    _value(instance, name),
                    at=(name,) if body else (),
                )
                for name, messages in exc.message_dict.items()
            ]
        ) from None

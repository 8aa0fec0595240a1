"""What the services that write a location or a storage row share: setting columns by attribute
name, the model's own field checks turned into refusals that name their fields, and the locked
read, the save and the delete of one row, each with its refusal."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError

from core.errors import FieldError, FieldErrors, ObjectNotFound

M = TypeVar("M", bound=models.Model)


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


def row_locked(model: type[M], pk: Any, *, field: str) -> M:
    """The row of ``model`` whose primary key is ``pk``, locked until the transaction ends (the
    caller holds one); ``ObjectNotFound`` naming ``field`` when there is none."""
    row = model._default_manager.select_for_update().filter(pk=pk).first()
    if row is None:
        raise ObjectNotFound(f"No {model._meta.model_name} found with {field}={pk}", field=field)
    return row


def row_save(instance: models.Model, *, taken: Exception, update_fields: list[str] | None = None) -> None:
    """Insert ``instance`` or, with ``update_fields``, write those columns of it. The caller has
    checked that its name is free; when a concurrent writer took the name first, the database's
    refusal is ``taken`` and the caller's transaction goes on."""
    try:
        with transaction.atomic():
            if update_fields is None:
                instance.save(force_insert=True)
            else:
                instance.save(update_fields=update_fields)
    except IntegrityError:
        raise taken from None


def row_delete(instance: models.Model, *, refusal: Exception) -> None:
    """Delete ``instance``. The caller has checked that no row refers to it; when one was added
    meanwhile (the database protects it), the refusal is ``refusal``."""
    try:
        with transaction.atomic():
            instance.delete()
    except (ProtectedError, IntegrityError):
        raise refusal from None

"""Storages: created, changed and deleted under the same rules by the API, the web UI and the
admin; found by name or id; and the SSH key that storages trust."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction

from catalogue.columns import clean_columns
from catalogue.models import Location, Storage
from catalogue.phases import lifecycle_holds_release, oid_phases_refresh, storage_oids
from catalogue.selectors import storage_in_use
from catalogue.services.fields import columns_assign, model_clean, row_delete, row_locked, row_save
from core import fastsql
from core.errors import (
    DatabaseOperationError,
    FieldError,
    FieldErrors,
    InvalidQueryParameters,
    UnmetPreconditionForOperation,
)

# The keys an ``init_storage`` body must carry (upstream answered 200 "" without them).
STORAGE_BODY_KEYS = (
    "storage_name",
    "storage_type",
    "storage_interface",
    "location_id",
    "storage_capacity",
    "storage_phase",
    "root_directory",
)


def _storage_taken(storage_name: str) -> DatabaseOperationError:
    return DatabaseOperationError(
        f"duplicate key value violates unique constraint: a storage named {storage_name!r} exists already",
        field="storage_name",
    )


def _storage_check(storage: Storage, *, body: str | None = None) -> None:
    """The rules a storage row obeys, in the order the API has always checked them (``body``:
    the values came in as that body of columns)."""
    if not storage.storage_name:
        raise InvalidQueryParameters("storage_name cannot be empty", field="storage_name")
    if not storage.location_id:
        raise InvalidQueryParameters(
            "Either location_id or location_name must name an existing location", field="location_id"
        )
    if not Location.objects.filter(pk=storage.location_id).exists():
        raise DatabaseOperationError(
            'insert or update on table "storage" violates foreign key constraint: '
            f"location_id {storage.location_id} does not exist",
            field="location_id",
        )
    if Storage.objects.filter(storage_name=storage.storage_name).exclude(pk=storage.pk).exists():
        raise _storage_taken(storage.storage_name)
    model_clean(storage, body=body)


def storage_create(
    *,
    storage_name: str,
    storage_type: str,
    storage_interface: str,
    root_directory: str | None,
    location_id: uuid.UUID | None = None,
    location_name: str | None = None,
    storage_capacity: int = -1,
    storage_phase: str = "GAS",
    storage_config: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
) -> Storage:
    """Create a storage at a location (``location_id`` wins over ``location_name``).

    With a ``storage_config`` body, the body's columns are the new row (as upstream), and must
    include every key of ``STORAGE_BODY_KEYS``. ``fields`` sets further columns by attribute name
    (the admin's form has them all).
    """
    if storage_config is not None:
        missing = [key for key in STORAGE_BODY_KEYS if key not in storage_config]
        if missing:
            raise FieldErrors(
                [FieldError("storage_config", "missing", "Field required", None, at=(key,)) for key in missing]
            )
        columns = clean_columns(Storage, storage_config, read_only=frozenset({"storage_date"}), field="storage_config")
    else:
        if not location_id and location_name:
            location_id = Location.objects.filter(location_name=location_name).values_list("pk", flat=True).first()
            if location_id is None:
                raise UnmetPreconditionForOperation(
                    f"No location found with location_name={location_name!r}", field="location_name"
                )
        columns = {
            "storage_name": storage_name,
            "storage_type": storage_type,
            "storage_interface": storage_interface,
            "root_directory": root_directory,
            "location_id": location_id,
            "storage_capacity": storage_capacity,
            "storage_phase": storage_phase,
        }
    storage = Storage(**columns)
    columns_assign(storage, fields or {})
    _storage_check(storage, body="storage_config" if storage_config is not None else None)
    row_save(storage, taken=_storage_taken(storage.storage_name))
    lifecycle_holds_release()  # a new place for the copies the lifecycle could not make
    return storage


def storage_update(*, storage_id: uuid.UUID, fields: dict[str, Any]) -> Storage:
    """Set ``fields`` (values by attribute name: ``location_id`` for the location) on a storage,
    under the rules of ``storage_create``; only those columns are written."""
    with transaction.atomic():
        storage = row_locked(Storage, storage_id, field="storage_id")
        phase = storage.storage_phase
        names = columns_assign(storage, fields)
        _storage_check(storage)
        row_save(storage, taken=_storage_taken(storage.storage_name), update_fields=names)
        if storage.storage_phase != phase:  # every object with a READY copy there changes phase
            oid_phases_refresh(storage_oids(storage.storage_id))
        lifecycle_holds_release()  # a place for the copies the lifecycle could not make, maybe
    return storage


def _in_use(storage: Storage) -> UnmetPreconditionForOperation:
    message = f"{storage.storage_name}: it holds data items or copy jobs"
    return UnmetPreconditionForOperation(message, field="storage_id")


def storage_delete_check(*, storage: Storage) -> None:
    """Refuse (``UnmetPreconditionForOperation``) to delete a storage that is in use: one that
    data items or copy jobs refer to."""
    if storage_in_use(storage):
        raise _in_use(storage)


def storage_delete(*, storage_id: uuid.UUID) -> None:
    """Delete a storage that is not in use (``storage_delete_check``), with its remote definitions."""
    with transaction.atomic():
        storage = row_locked(Storage, storage_id, field="storage_id")
        storage_delete_check(storage=storage)
        row_delete(storage, refusal=_in_use(storage))


STORAGE_ATTRS = [field.attname for field in Storage._meta.concrete_fields]


def storage_find(*, storage_name: str = "", storage_id: uuid.UUID | None = None) -> Storage | None:
    """The storage named by ``storage_name`` (which wins over the id) or ``storage_id``, or None.
    Each operation words its own refusal, as upstream's did."""
    if storage_name:
        found = Storage.objects.filter(storage_name=storage_name)
    elif storage_id:
        found = Storage.objects.filter(pk=storage_id)
    else:
        return None
    rows = fastsql.fetch(found[:1], STORAGE_ATTRS)  # cached SQL: every registration and copy asks
    if rows is None:
        return found.first()
    return Storage.from_db(found.db, STORAGE_ATTRS, rows[0]) if rows else None


def storage_resolve(*, storage_id: uuid.UUID | None, storage_name: str) -> Storage:
    """The storage named by name (which wins) or id; a clear 422 when there is none."""
    if not storage_name and not storage_id:
        raise UnmetPreconditionForOperation("Neither storage_id nor storage_name is specified.", field="storage_name")
    storage = storage_find(storage_name=storage_name, storage_id=storage_id)
    if storage is None:
        if storage_name:
            raise UnmetPreconditionForOperation(f"Can't get storage_id for {storage_name}", field="storage_name")
        raise UnmetPreconditionForOperation(f"No storage found with storage_id={storage_id}", field="storage_id")
    return storage


def ssh_public_key() -> str:
    """The public key in the file named by ``SSH_PUBLIC_KEY_PATH``, stripped."""
    path = settings.SSH_PUBLIC_KEY_PATH
    if path is None:
        raise UnmetPreconditionForOperation("No SSH public key is configured (set SSH_PUBLIC_KEY_PATH)")
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        raise UnmetPreconditionForOperation("Unable to open SSH key") from None

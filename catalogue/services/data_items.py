"""Data items: inserting copies under the oid rule, and changing their columns."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from psycopg import errors as psycopg_errors

from audit.recording import created_recorded
from catalogue.columns import clean_columns
from catalogue.models import DataItem, Storage
from catalogue.selectors import data_items_named
from core.actor import current_actor
from core.errors import (
    InvalidQueryParameters,
    ObjectNotFound,
    UnmetPreconditionForOperation,
    ValueAlreadyInDB,
)

# Columns the server owns: the primary key and the creation time (set on insert).
SERVER_COLUMNS = frozenset({"uid_creation"})

# Checks that apps above the catalogue register (``state_guard_register``) to refuse a change of
# copies' state while they work on them: the copy jobs refuse it for a copy they are writing. Each
# takes the rows about to change and answers why not, or None.
StateGuard = Callable[[QuerySet], str | None]
_STATE_GUARDS: list[StateGuard] = []


def state_guard_register(guard: StateGuard) -> StateGuard:
    """Have ``guard`` consulted before any service changes copies' ``item_state``."""
    if guard not in _STATE_GUARDS:
        _STATE_GUARDS.append(guard)
    return guard


def _check_state_guards(rows: QuerySet) -> None:
    for guard in _STATE_GUARDS:
        reason = guard(rows)
        if reason:
            raise UnmetPreconditionForOperation(reason, field="item_state")


def _duplicate(item_name: str | None) -> ValueAlreadyInDB:
    return ValueAlreadyInDB(f"Item is already registered on storage! {item_name}", field="item_name")


def _check_storages(storage_ids: set[uuid.UUID]) -> None:
    if not storage_ids:
        return
    missing = storage_ids - set(Storage.objects.filter(pk__in=storage_ids).values_list("pk", flat=True))
    if missing:
        raise UnmetPreconditionForOperation(
            f"No storage found with storage_id={min(missing, key=str)}", field="storage_id"
        )


def data_items_insert(*, rows: list[dict[str, Any]], storages_checked: bool = False) -> list[DataItem]:
    """Insert copies of objects, applying the oid rule, in one statement and one transaction.

    Each row holds column values by attribute name; absent ones take their defaults, explicit
    ``None`` is stored as null. The server sets ``uid_creation``. Without an ``oid`` a copy
    starts a new object (``oid = uid``); with one that is the uid of any known copy, the new copy
    joins that copy's object (its root ``oid`` and ``oid_creation``); any other ``oid`` is kept.
    An item name is registered at most once per storage (the database's unique constraint
    decides, so concurrent inserts cannot both win). ``storages_checked``: the caller has
    already made sure the rows' storages exist.
    """
    items = [DataItem(**{key: value for key, value in row.items() if key not in SERVER_COLUMNS}) for row in rows]
    if not storages_checked:
        _check_storages({item.storage_id for item in items if item.storage_id is not None})
    now = timezone.now()
    given = {item.oid for item in items if item.oid is not None}
    roots = {}
    if given:
        found = DataItem.objects.filter(uid__in=given).values_list("uid", "oid", "oid_creation")
        roots = {uid: (oid, created) for uid, oid, created in found}
    for item in items:
        item.uid_creation = now
        if item.oid is None:
            item.oid, item.oid_creation = item.uid, now
        elif item.oid in roots:
            item.oid, item.oid_creation = roots[item.oid]
    try:
        with transaction.atomic():
            if len(items) >= COPY_FROM and connection.vendor == "postgresql":
                _copy_in(items)
            else:
                DataItem.objects.bulk_create(items, batch_size=1000)
    except (IntegrityError, psycopg_errors.IntegrityError):
        raise _conflict(items) from None
    return items


# From this many rows on, PostgreSQL takes them by COPY: for the 10,000 items of a large
# registration, the ORM's statement building and parameter quoting cost more than the insert.
COPY_FROM = 100


def _copy_in(items: list[DataItem]) -> None:
    """Insert ``items`` with one COPY (PostgreSQL), then record their creation in the audit trail
    as ``bulk_create`` would."""
    fields = [field for field in DataItem._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    json_fields = {field.attname for field in fields if isinstance(field, models.JSONField)}
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY data_item ({columns}) FROM STDIN") as copy:
        for item in items:
            row = []
            for field in fields:
                value = getattr(item, field.attname)
                if field.attname in json_fields and value is not None:
                    value = json.dumps(value)
                elif isinstance(value, str):
                    value = str(value)  # a choice's enum member: its plain text
                row.append(value)
            copy.write_row(row)
    for item in items:
        item._state.adding = False
    actor = current_actor()
    if actor is not None:
        created_recorded(items, actor, using=DEFAULT_DB_ALIAS)


def _conflict(items: list[DataItem]) -> ValueAlreadyInDB:
    """Why an insert of ``items`` broke a unique rule: a name on a storage, or a uid, taken."""
    for item in items:
        if item.item_name is not None and item.storage_id is not None:
            if DataItem.objects.filter(item_name=item.item_name, storage_id=item.storage_id).exists():
                return _duplicate(item.item_name)
    pairs = Counter((item.item_name, item.storage_id) for item in items if item.storage_id is not None)
    repeated = [name for (name, _), count in pairs.items() if count > 1 and name is not None]
    if repeated:
        return _duplicate(repeated[0])
    taken = DataItem.objects.filter(uid__in=[item.uid for item in items]).values_list("uid", flat=True).first()
    return ValueAlreadyInDB(f"A data item with uid {taken} exists already", field="uid")


def data_item_insert(*, fields: dict[str, Any], storages_checked: bool = False) -> DataItem:
    """Insert one copy of an object, applying the oid rule (see ``data_items_insert``)."""
    return data_items_insert(rows=[fields], storages_checked=storages_checked)[0]


def data_item_init(
    *,
    owner: str,
    item_name: str | None = None,
    uid_phase: str = "GAS",
    json_data: dict[str, Any] | None = None,
) -> DataItem:
    """Create an INITIALISED item by name, or an item from a body of columns.

    With ``item_name`` the body is ignored (as upstream). ``item_owner`` is always the caller.
    """
    if item_name:
        name = clean_columns(DataItem, {"item_name": item_name})  # its length, as for a body
        return data_item_insert(fields={**name, "uid_phase": uid_phase, "item_owner": owner})
    if not json_data:
        raise InvalidQueryParameters("Either item_name or json_data is required")
    fields = clean_columns(DataItem, json_data, read_only=SERVER_COLUMNS, field="json_data")
    fields["item_owner"] = owner
    return data_item_insert(fields=fields)


def _not_found(uid: uuid.UUID | None, oid: uuid.UUID | None, item_name: str) -> ObjectNotFound:
    if uid:
        return ObjectNotFound(f"No data item with uid={uid}", field="uid")
    if oid:
        return ObjectNotFound(f"No data item with oid={oid}", field="oid")
    return ObjectNotFound(f"No data item with item_name={item_name!r}", field="item_name")


def _apply(rows: QuerySet, fields: dict[str, Any], not_found: ObjectNotFound) -> DataItem:
    """Update every row of ``rows``; return the first one (in catalogue order) after the update."""
    _check_storages({fields["storage_id"]} if fields.get("storage_id") else set())
    with transaction.atomic():
        first = rows.select_for_update().first()
        if first is None:
            raise not_found
        if "item_state" in fields:
            _check_state_guards(rows)
        if fields:
            try:
                with transaction.atomic():
                    rows.update(**fields)
            except IntegrityError:
                raise _duplicate(fields.get("item_name", first.item_name)) from None
            first.refresh_from_db()
    return first


def data_item_set(
    *,
    uid: uuid.UUID | None = None,
    oid: uuid.UUID | None = None,
    fields: dict[str, Any],
) -> DataItem:
    """Set columns on the copy ``uid``, or on every copy of ``oid`` (uid wins); the first row back."""
    if not uid and not oid:
        raise InvalidQueryParameters("Either oid or uid should be specified")
    return _apply(data_items_named(uid=uid, oid=oid), fields, _not_found(uid, oid, ""))


def data_item_update(
    *,
    uid: uuid.UUID | None = None,
    oid: uuid.UUID | None = None,
    item_name: str = "",
    post_data: dict[str, Any] | None = None,
) -> DataItem:
    """Set the body's columns on every row named by uid > oid > item_name; the first row back."""
    if not uid and not oid and not item_name:
        raise InvalidQueryParameters("Either item_name, oid or uid must be given")
    fields = clean_columns(DataItem, post_data or {}, read_only=SERVER_COLUMNS | {"uid"}, field="post_data")
    return _apply(data_items_named(uid=uid, oid=oid, item_name=item_name), fields, _not_found(uid, oid, item_name))


def data_item_update_tags(
    *,
    item_name: str = "",
    oid: uuid.UUID | None = None,
    item_tags: dict[str, Any] | None = None,
) -> DataItem:
    """Merge ``item_tags`` into the tags of the object named by oid > item_name, on all its copies."""
    if not (item_name or oid) or not item_tags:
        raise InvalidQueryParameters("Either item_name or OID or item_tags are missing")
    with transaction.atomic():
        first = data_items_named(oid=oid, item_name=item_name).select_for_update().first()
        if first is None:
            raise InvalidQueryParameters("item_name or OID not found")
        current = first.item_tags if isinstance(first.item_tags, dict) else {}
        merged = {**current, **item_tags}
        DataItem.objects.filter(oid=first.oid).update(item_tags=merged)
        first.refresh_from_db()
    return first

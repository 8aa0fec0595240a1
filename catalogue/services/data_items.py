"""Data items: inserting copies under the oid rule, and changing their columns."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from psycopg import errors as psycopg_errors

from catalogue.choices import ItemState
from catalogue.columns import clean_columns
from catalogue.events import items_registered
from catalogue.models import DataItem, Storage
from catalogue.phases import combine, lifecycle_reconsider, objects_lock, oid_phases_refresh
from catalogue.selectors import data_items_named
from catalogue.services.item_rows import rows_insert
from core.actor import unattended
from core.errors import (
    InvalidQueryParameters,
    ObjectNotFound,
    UnmetPreconditionForOperation,
    ValueAlreadyInDB,
)
from core.pipeline import statements_together

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
    items = _instances(rows)
    if not storages_checked:
        _check_storages({item.storage_id for item in items if item.storage_id is not None})
    given_phase = [("oid_phase" in row) for row in rows]
    now = timezone.now()
    given = {item.oid for item in items if item.oid is not None}
    roots = {}
    if given:
        found = DataItem.objects.filter(uid__in=given).values_list("uid", "oid", "oid_creation")
        roots = {uid: (oid, created) for uid, oid, created in found}
    joined: set[uuid.UUID] = set()
    for item in items:
        item.uid_creation = now
        if item.oid is None:
            item.oid, item.oid_creation = item.uid, now
        elif item.oid in roots:
            item.oid, item.oid_creation = roots[item.oid]
            joined.add(item.oid)
        else:
            joined.add(item.oid)
    _new_objects_phase(items, given_phase, joined)
    together = len(items) <= TOGETHER_UP_TO
    try:
        with transaction.atomic(), statements_together(connection) if together else nullcontext():
            rows_insert(items)
            items_registered(items)
            ready_joined = {item.oid for item in items if item.oid in joined and item.item_state == ItemState.READY}
            if ready_joined:
                oid_phases_refresh(ready_joined)
    except (IntegrityError, psycopg_errors.IntegrityError):
        raise _conflict(items) from None
    return items


def _instances(rows: list[dict[str, Any]]) -> list[DataItem]:
    """``DataItem`` objects of ``rows``. Rows that name columns by attribute name only are built
    by position, with each absent column's default (a third of the keyword road's cost, which
    looks every field up in the row and calls its default; 0.8 s of 10,000 items' 6 s)."""
    fields = DataItem._meta.concrete_fields
    attnames = frozenset(field.attname for field in fields)
    if not all(row.keys() <= attnames for row in rows):
        return [DataItem(**{key: value for key, value in row.items() if key not in SERVER_COLUMNS}) for row in rows]
    defaults = [(field.attname, *_default_of(field)) for field in fields]
    return [
        DataItem(
            *[
                row[attname] if attname in row and attname not in SERVER_COLUMNS else default() if made else default
                for attname, made, default in defaults
            ]
        )
        for row in rows
    ]


def _default_of(field: Any) -> tuple[bool, Any]:
    """(made per row, the default's maker) for a default made for each row (``uuid4``, ``now``),
    else (False, the value ``get_default`` always gives): 24 calls per row cost more than the rest
    of the row's values."""
    if field.has_default() and callable(field.default):
        return True, field.get_default
    return False, field.get_default()


def _new_objects_phase(items: list[DataItem], given_phase: list[bool], joined: set[uuid.UUID]) -> None:
    """The phase of each object these rows start, unless the caller gave it: what its READY rows'
    storages give (``catalogue.phases``). An object with no READY row yet keeps the column's
    default (GAS, as upstream's clients expect of a new row); rows joining a known object are
    refreshed with it after the insert."""
    fresh = [item for item, given in zip(items, given_phase, strict=True) if not given and item.oid not in joined]
    if not fresh:
        return
    storage_ids = {item.storage_id for item in fresh if item.item_state == ItemState.READY and item.storage_id}
    storage_phase = dict(Storage.objects.filter(pk__in=storage_ids).values_list("pk", "storage_phase"))
    ready: dict[uuid.UUID, list[str]] = {}
    for item in items:
        if item.item_state == ItemState.READY and item.storage_id in storage_phase:
            ready.setdefault(item.oid, []).append(storage_phase[item.storage_id])
    for item in fresh:
        if item.oid in ready:
            item.oid_phase = combine(ready[item.oid])


# Up to this many rows, the insert's statements go to PostgreSQL together (``core.pipeline``): a
# single registration's round trips. Well below where the rows or their events go by COPY (100
# rows, 100 events), which pipeline mode refuses.
TOGETHER_UP_TO = 10


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
            phased = PHASE_COLUMNS.intersection(fields)
            judged = phased or LIFECYCLE_COLUMNS.intersection(fields)
            oids = set(rows.values_list("oid", flat=True).distinct()) if judged else set()
            if phased:
                objects_lock(oids)  # before any write: the order every writer of these rows keeps
            try:
                with transaction.atomic():
                    rows.update(**fields)
            except IntegrityError:
                raise _duplicate(fields.get("item_name", first.item_name)) from None
            if phased:
                oids.update(rows.values_list("oid", flat=True).distinct())
                oid_phases_refresh(oids)  # which also clears the lifecycle's marks on these objects
            elif judged:
                lifecycle_reconsider(oids)
            if judged and "expired" in fields:  # a value the caller set stays
                with unattended():
                    rows.update(expired=fields["expired"])
            first.refresh_from_db()
    return first


# A change of ``PHASE_COLUMNS`` may change which copies of an object count, and where: its phase is
# computed again (written directly, ``oid_phase`` is made true again too). After that, or a change
# of ``LIFECYCLE_COLUMNS``, the lifecycle looks at the object again
# (``catalogue.phases.lifecycle_reconsider``).
PHASE_COLUMNS = frozenset({"item_state", "storage_id", "oid", "oid_phase"})
LIFECYCLE_COLUMNS = frozenset({"target_phase", "uid_expiration", "oid_expiration"})


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


def data_item_descendants(uids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Every item inside these containers, at any depth (children, their children…), not DELETED."""
    found: list[uuid.UUID] = []
    seen = set(uids)
    level = list(uids)
    while level:
        children = []
        for start in range(0, len(level), 900):
            rows = DataItem.objects.filter(parents__in=level[start : start + 900]).exclude(item_state=ItemState.DELETED)
            children += [uid for uid in rows.values_list("uid", flat=True) if uid not in seen]
        seen.update(children)
        found += children
        level = children
    return found


def data_items_tombstone(*, uids: list[uuid.UUID], at: datetime | None = None) -> list[uuid.UUID]:
    """Mark copies whose payload is gone DELETED (``deleted``, ``uid_deletion`` set): these and
    every item inside them, at any depth; the rows stay for ever. Then their objects' phases
    (``oid_phase``) are made true again. The uids marked, descendants included."""
    when = at or timezone.now()
    marked = list(dict.fromkeys([*uids, *data_item_descendants(list(uids))]))
    oids: set[uuid.UUID] = set()
    for start in range(0, len(marked), 900):
        oids.update(DataItem.objects.filter(uid__in=marked[start : start + 900]).values_list("oid", flat=True))
    with transaction.atomic():
        objects_lock(oids)
        for start in range(0, len(marked), 900):
            chunk = DataItem.objects.filter(uid__in=marked[start : start + 900])
            chunk.exclude(item_state=ItemState.DELETED).update(
                item_state=ItemState.DELETED, deleted=True, uid_deletion=when
            )
        oid_phases_refresh(oids)
    return marked

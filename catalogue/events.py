"""The catalogue's events: a copy registered, READY, CORRUPTED or DELETED (``core.events``).

They are emitted by the data item's own writes (``catalogue.models.DataItemQuerySet`` and
``data_items_insert``), so that every road to a change of state (the API, the copy and deletion
jobs, fixity checks, the admin) tells of it, in the transaction of the change. A row set to the
state it already has tells nothing.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from catalogue.choices import ItemState
from core.events import ITEM_CORRUPTED, ITEM_DELETED, ITEM_READY, ITEM_REGISTERED, emit_many, json_plain, json_text

STATE_EVENTS = {ItemState.READY: ITEM_READY, ItemState.CORRUPTED: ITEM_CORRUPTED, ItemState.DELETED: ITEM_DELETED}

# The columns an item event carries: who the copy is, where, and what it holds (not its metadata,
# which may be large: query_data_item has it).
PAYLOAD_COLUMNS = (
    "uid",
    "oid",
    "item_name",
    "item_type",
    "item_state",
    "storage_id",
    "uri",
    "item_size",
    "item_checksum",
    "checksum_method",
    "uid_phase",
    "oid_phase",
    "uid_creation",
    "uid_expiration",
    "parents",
    "item_tags",
)


def _subjects(row: dict[str, Any]) -> dict[str, Any]:
    return {"uid": row["uid"], "oid": row["oid"], "storage_id": row["storage_id"]}


def _event(event_type: str, row: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    return event_type, _subjects(row), row


def items_registered(items: list[Any]) -> None:
    """``dlm.item.registered`` for each new copy, and ``dlm.item.ready`` for each one registered
    READY (a pipeline waiting for READY hears of it either way). Each copy's subjects and payload
    are written as JSON once, for both its events, uuids and times as text beforehand (the
    encoder's fallback for them cost more than the rest of the JSON: 10,000 registered items
    made 80,000 calls of it; each distinct one is written once)."""
    events = []
    memo: dict[Any, Any] = {}
    columns = attrgetter(*PAYLOAD_COLUMNS)
    for item in items:
        row = {column: json_plain(value, memo) for column, value in zip(PAYLOAD_COLUMNS, columns(item), strict=True)}
        subjects = json_text(_subjects(row))
        payload = json_text(row)
        events.append((ITEM_REGISTERED, subjects, payload))
        if item.item_state == ItemState.READY:
            events.append((ITEM_READY, subjects, payload))
    emit_many(events)


def items_state_changed(rows: list[dict[str, Any]]) -> None:
    """The state event of each row (its ``PAYLOAD_COLUMNS`` as they are now)."""
    emit_many([_event(STATE_EVENTS[row["item_state"]], row) for row in rows if row["item_state"] in STATE_EVENTS])

"""The one small interface through which services tell the world what changed.

``emit`` writes an ``OutboxEvent`` row in the caller's transaction: the event exists exactly when
the change it reports was committed (a rolled-back change emits nothing). The relay (the events
app's task ``events.tasks.relay_run``, run by the django-q2 workers) publishes the rows afterwards.
Once an emitting transaction commits, a relay run is queued, at most one per process every
``DLM_OUTBOX_POLL`` seconds; the schedule ``dlm-relay`` catches up on anything else.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from core.jsontext import dumps
from core.pgcopy import copy_rows, pg_type

# The event types (AMQP routing keys). Payloads: docs/events.md.
MIGRATION_UPDATE = "dlm.migration.update"  # a copy job's row, at each change (upstream's type)
DELETION_UPDATE = "dlm.deletion.update"  # a deletion job's row, at each change of state
ITEM_REGISTERED = "dlm.item.registered"  # a new copy (uid) in the catalogue
ITEM_READY = "dlm.item.ready"  # a copy became READY (registered READY, or its copy job verified it)
ITEM_CORRUPTED = "dlm.item.corrupted"  # a copy found bad or missing, or partly removed
ITEM_DELETED = "dlm.item.deleted"  # a copy's bytes removed (its row kept, DELETED)
LIFECYCLE_DECISION = "dlm.lifecycle.decision"  # the lifecycle asked for a copy, a deletion or a cancel
RULE_SATISFIED = "dlm.rule.satisfied"  # an object has what a placement rule asks, by the rule's copies
SCAN_FINISHED = "dlm.scan.finished"  # a consistency scan of a storage ended (completed, failed, cancelled)
RELAY_TASK = "events.tasks.relay_run"

_lock = threading.Lock()
_last_kick = float("-inf")


def emit(event_type: str, *, subjects: dict[str, Any], payload: dict[str, Any]) -> None:
    """Record event ``event_type`` about ``subjects`` (ids) with its JSON ``payload`` (uuids and
    times become text), in the caller's transaction."""
    from core.models import OutboxEvent

    OutboxEvent.objects.create(event_type=event_type, subjects=_jsonable(subjects), payload=_jsonable(payload))
    transaction.on_commit(relay_soon)


# From this many events on, PostgreSQL takes them by COPY (fewer, a prepared insert is quicker).
_COPY_FROM = 100


def emit_many(events: list[tuple[str, dict[str, Any] | str, dict[str, Any] | str]]) -> None:
    """``emit`` for many events at once (``(event_type, subjects, payload)`` each), in one
    statement (one prepared insert run for every row; on PostgreSQL, from ``_COPY_FROM`` events
    on, one COPY): a bulk registration's events cost little beside its rows. Each distinct
    subjects or payload object is turned into JSON once, however many events carry it; one given
    as text (``json_text``) is that JSON already."""
    if not events:
        return
    from core.models import OutboxEvent, OutboxState

    connection = connections[router.db_for_write(OutboxEvent)]
    copy_in = connection.vendor == "postgresql" and len(events) >= _COPY_FROM
    converted: dict[Any, Any] = {}

    def text(value: dict[str, Any]) -> Any:
        """``value`` as the JSON column takes it (COPY: its text), made once per object, and once
        per content for objects of plain values (the subjects of an item's events)."""
        if type(value) is str:  # JSON already
            return value if copy_in or connection.vendor != "postgresql" else Jsonb(value, dumps=str)
        try:
            key: Any = tuple((name, type(item), item) for name, item in value.items())  # 1 is not True
            hash(key)
        except TypeError:  # a value that is a list or a dict
            key = id(value)  # the objects live until this call returns: their ids are theirs
        if key not in converted:
            if copy_in:
                converted[key] = dumps(value, _ENCODER.default)
            else:
                converted[key] = connection.ops.adapt_json_value(value, DjangoJSONEncoder)
        return converted[key]

    now = timezone.now()
    columns = ("event_type", "created_at", "subjects", "payload", "state", "attempts", "last_error")
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    table = connection.ops.quote_name(OutboxEvent._meta.db_table)
    pending = str(OutboxState.PENDING)
    with connection.cursor() as cursor:
        if copy_in:
            rows = (
                (event_type, now, text(subjects), text(payload), pending, 0, "")
                for event_type, subjects, payload in events
            )
            types = [pg_type(OutboxEvent._meta.get_field(column), connection) for column in columns]
            copy_rows(cursor.cursor, OutboxEvent._meta.db_table, columns, types, rows)
        else:
            created = connection.ops.adapt_datetimefield_value(now)
            rows = [
                (event_type, created, text(subjects), text(payload), pending, 0, "")
                for event_type, subjects, payload in events
            ]
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    transaction.on_commit(relay_soon, using=connection.alias)


_ENCODER = DjangoJSONEncoder()


def json_text(value: dict[str, Any]) -> str:
    """``value`` as the JSON text an event's subjects or payload is stored as (``emit_many`` takes
    it as it is): uuids and times as text, as ``DjangoJSONEncoder`` writes them."""
    return dumps(value, _ENCODER.default)


def json_plain(value: Any, memo: dict[Any, str]) -> Any:
    """A value as ``json_text`` would write it, made beforehand where the encoder would call back
    for it (a uuid, a time: remembered in ``memo``, which the rows of one insert share: their
    storage, their times, a new object's uid as its oid), so that many payloads are written
    without a callback per value."""
    kind = type(value)
    if kind is uuid.UUID or kind is datetime:
        text = memo.get(value)
        if text is None:
            text = memo[value] = str(value) if kind is uuid.UUID else _ENCODER.default(value)
        return text
    return value


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def relay_soon() -> None:
    """Queue a relay run, unless this process queued one less than ``DLM_OUTBOX_POLL`` seconds
    ago: that run relays until nothing is pending and at least that long (``events.tasks``), so it
    also sends what was committed meanwhile."""
    global _last_kick
    with _lock:
        now = time.monotonic()
        if now - _last_kick < settings.DLM_OUTBOX_POLL:
            return
        _last_kick = now
    from django_q.tasks import async_task

    async_task(RELAY_TASK, task_name="outbox-relay", save=False)

"""Writes of the audit trail: records are inserted in bulk, in the transaction of the change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from operator import itemgetter
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from audit.choices import Action, ObjectType
from audit.models import AuditRecord
from audit.values import jsonable
from core.actor import Actor, current_actor
from core.jsontext import dumps
from core.pgcopy import copy_rows, pg_type
from core.secrets import mask_options

# The columns of a record as ``record_row`` makes it, in insert order.
COLUMNS = (
    "at",
    "username",
    "user_id",
    "auth",
    "via",
    "operation",
    "action",
    "object_type",
    "object_id",
    "changes",
    "request_id",
    "remote_addr",
)
# PostgreSQL's INSERT takes the records as one JSON document that it unpacks (SQLite's, one prepared
# statement run for each record): a registration of 10,000 items writes 10,000 create records, and
# the ORM's per-value work would double its time.
_RECORDSET = (
    "at timestamptz, username text, user_id integer, auth text, via text, operation text, action text, "
    "object_type text, object_id text, changes jsonb, request_id text, remote_addr text"
)


def _insert_sql(vendor: str) -> str | None:
    names = ", ".join(f'"{name}"' for name in COLUMNS)
    if vendor == "postgresql":
        return (
            f"INSERT INTO audit_record ({names}) SELECT {names} FROM jsonb_to_recordset(%s::jsonb) AS r({_RECORDSET})"
        )
    if vendor == "sqlite":
        marks = ", ".join(["%s"] * len(COLUMNS))
        return f"INSERT INTO audit_record ({names}) VALUES ({marks})"
    return None


BATCH_SIZE = 10_000  # records per INSERT: a whole register_data_items (at most 10,000 items)
# From this many records on, PostgreSQL takes them by COPY: about three times faster than the
# INSERT above for the 10,000 of a large registration.
COPY_FROM = 100

# Records waiting for the end of a ``batched`` block (deletes are seen one object at a time).
_PENDING: ContextVar[list[dict[str, Any]] | None] = ContextVar("dlm_audit_pending", default=None)


def record_row(
    actor: Actor, *, action: str, object_type: str, object_id: Any, changes: dict, at: datetime | None = None
) -> dict[str, Any]:
    """One record of a change by ``actor``, as a row to insert (``changes`` JSON-ready and masked)."""
    return {
        "at": at or timezone.now(),
        "username": actor.username,
        "user_id": actor.user_id,
        "auth": actor.auth,
        "via": actor.via,
        "operation": actor.operation,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id)[:255],
        "changes": changes,
        "request_id": actor.request_id,
        "remote_addr": actor.remote_addr,
    }


def audit_records_write(rows: list[dict[str, Any]], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Insert records (``record_row``), many per statement; inside a ``batched`` block, at its end."""
    if not rows:
        return
    pending = _PENDING.get()
    if pending is not None:
        pending.extend(rows)
        return
    _insert(rows, using)


def _insert(rows: list[dict[str, Any]], using: str) -> None:
    connection = connections[using]
    sql = _insert_sql(connection.vendor)
    if sql is None:
        AuditRecord.objects.using(using).bulk_create([AuditRecord(**row) for row in rows], batch_size=BATCH_SIZE)
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) >= COPY_FROM and hasattr(cursor.cursor, "copy"):
            types = [pg_type(AuditRecord._meta.get_field(name), connection) for name in COLUMNS]
            copy_rows(cursor.cursor, AuditRecord._meta.db_table, COLUMNS, types, _values(rows))
            return
        if connection.vendor == "sqlite":  # a prepared insert per row: a third of json_each's time
            adapt = connection.ops.adapt_datetimefield_value
            times = {at: adapt(at) for at in {row["at"] for row in rows}}  # records made together share one
            cursor.executemany(sql, list(_values(rows, times)))  # a list: Django's debug cursor counts them
            return
        for start in range(0, len(rows), BATCH_SIZE):
            batch = [{**row, "at": row["at"].isoformat()} for row in rows[start : start + BATCH_SIZE]]
            cursor.execute(sql, [dumps(batch)])


_ROW_VALUES = itemgetter(*COLUMNS)
_AT, _CHANGES = COLUMNS.index("at"), COLUMNS.index("changes")


def _values(rows: list[dict[str, Any]], times: dict[datetime, Any] | None = None) -> Iterator[list[Any]]:
    """The records' values in ``COLUMNS`` order, ``changes`` as JSON text (and ``at`` as
    ``times`` has it, when given)."""
    for row in rows:
        values = list(_ROW_VALUES(row))
        values[_CHANGES] = dumps(values[_CHANGES])
        if times is not None:
            values[_AT] = times[values[_AT]]
        yield values


@contextmanager
def batched(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Records written inside the block are inserted together when it ends without an error.
    Use it inside the change's ``transaction.atomic()``: the records land in that transaction."""
    if _PENDING.get() is not None:  # an outer block inserts them
        yield
        return
    pending: list[dict[str, Any]] = []
    token = _PENDING.set(pending)
    try:
        yield
    finally:
        _PENDING.reset(token)
    if pending:
        _insert(pending, using)


def audit_record(
    *,
    action: Action | str,
    object_type: ObjectType | str,
    object_id: Any,
    changes: dict[str, Any],
    actor: Actor | None = None,
    force: bool = False,
    using: str = DEFAULT_DB_ALIAS,
) -> bool:
    """Record a change that code made itself, as the current actor (or ``actor``).

    Nothing is recorded when no actor is set, unless ``force`` is given with an explicit
    ``actor``. ``changes`` is ``{field: [before, after]}`` for an update, ``{field: value}`` for
    a create or delete; values are made JSON-ready and secret options are masked. Returns
    whether a record was written.
    """
    if action not in Action.values:
        raise ValueError(f"unknown audit action {action!r}")
    if object_type not in ObjectType.values:
        raise ValueError(f"unknown audit object type {object_type!r}")
    who = current_actor()
    if actor is not None and (who is not None or force):
        who = actor
    if who is None:
        if force:
            raise ValueError("audit_record(force=True) needs an explicit actor")
        return False
    row = record_row(
        who, action=action, object_type=object_type, object_id=object_id, changes=mask_options(jsonable(changes))
    )
    with transaction.atomic(using=using, savepoint=False):
        audit_records_write([row], using=using)
    return True

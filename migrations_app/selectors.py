"""Reads of the jobs: the queries behind ``query_migrations``, ``get_migration`` and
``query_deletions``, and which copies are being deleted."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q, QuerySet

from core import params as p
from core.errors import FieldError
from migrations_app.models import Deletion, Migration
from migrations_app.states import ACTIVE

_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def query_date(name: str, raw: str | None) -> datetime | None:
    """A date filter of ``query_migrations``: ``YYYYMMDD`` or ISO (a date alone is midnight;
    naive is UTC). Anything else is a 422 naming the parameter (upstream: a 500)."""
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip()
    compact = _COMPACT_DATE.match(value)
    if compact:
        value = "-".join(compact.groups())
    elif re.fullmatch(r"[+-]?\d+(\.\d+)?", value):  # not Unix seconds: upstream reads dates only
        raise FieldError(name, "datetime_parsing", "Input should be YYYYMMDD or an ISO date", raw)
    try:
        return p.parse_datetime(value)
    except p.ParamError as exc:
        raise FieldError(name, exc.kind, exc.msg, raw) from None


def migration_query(
    *,
    user: str = "",
    start_date: str | None = None,
    end_date: str | None = None,
    storage_id: uuid.UUID | None = None,
) -> QuerySet:
    """Copy jobs, in ``migration_id`` order, filtered (all combined) by: created at or after
    ``start_date``; completed at or before ``end_date`` (jobs not completed have no
    ``completion_date``, so they never match an ``end_date``); ``storage_id`` as source or
    destination; ``user`` (only when given: every caller sees every job)."""
    start = query_date("start_date", start_date)
    end = query_date("end_date", end_date)
    jobs = Migration.objects.all()
    if user:
        jobs = jobs.filter(user=user)
    if start is not None:
        jobs = jobs.filter(date__gte=start)
    if end is not None:
        jobs = jobs.filter(completion_date__lte=end)
    if storage_id:
        jobs = jobs.filter(Q(source_storage_id=storage_id) | Q(destination_storage_id=storage_id))
    return jobs.order_by("migration_id")


def migration_get(*, migration_id: int) -> QuerySet:
    """The job with that id (none or one row; none for an id no job can have)."""
    if not 1 <= migration_id < 2**63:
        return Migration.objects.none()
    return Migration.objects.filter(migration_id=migration_id)


# --- deletions ----------------------------------------------------------------------------------


def active_deletion(uid: uuid.UUID) -> Deletion | None:
    """The deletion removing the copy ``uid`` now (queued or running), or None."""
    return Deletion.objects.filter(uid=uid, state__in=ACTIVE).order_by("deletion_id").first()


def uids_being_deleted(uids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Those of these copies that a deletion is removing now (queued or running): not to be
    counted on, copied from or deleted again."""
    wanted = list(dict.fromkeys(uids))
    found: set[uuid.UUID] = set()
    for start in range(0, len(wanted), 900):  # within SQLite's oldest limit of 999 parameters
        chunk = wanted[start : start + 900]
        found.update(Deletion.objects.filter(uid__in=chunk, state__in=ACTIVE).values_list("uid", flat=True))
    return found


def deletions_of(oids: Iterable[uuid.UUID], *, active: bool = False) -> QuerySet:
    """The deletions of copies of these objects (only those not ended: ``active``), in
    ``deletion_id`` order."""
    rows = Deletion.objects.filter(oid__in=list(dict.fromkeys(oids)))
    if active:
        rows = rows.filter(state__in=ACTIVE)
    return rows.order_by("deletion_id")


def deletion_query(
    *,
    deletion_id: int | None = None,
    uid: uuid.UUID | None = None,
    oid: uuid.UUID | None = None,
    state: str | None = None,
) -> QuerySet:
    """Deletions, in ``deletion_id`` order, filtered (all combined) by id, the copy's uid, its
    object's oid and the job's state."""
    rows = Deletion.objects.all()
    if deletion_id is not None:
        if not 1 <= deletion_id < 2**63:
            return Deletion.objects.none()
        rows = rows.filter(deletion_id=deletion_id)
    if uid:
        rows = rows.filter(uid=uid)
    if oid:
        rows = rows.filter(oid=oid)
    if state:
        rows = rows.filter(state=state)
    return rows.order_by("deletion_id")

"""Pacing of the fixity checks: per storage, at most ``DLM_FIXITY_CHECKS_PER_SECOND`` checks a
second and ``DLM_FIXITY_BYTES_PER_SECOND`` bytes a second read, kept as one clock per storage
(``FixityClock``): each check, as it starts, takes the next free moment and moves the clock on by
its cost. The clock's row is locked while it moves (``select_for_update``; on SQLite every
transaction is IMMEDIATE, which serialises them), so that checks on many workers share it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrity.models import FixityClock

# A check that would wait longer than this for its moment is queued again for then, rather than
# holding a worker asleep.
MAX_SLEEP = 10.0  # seconds


@dataclass(frozen=True)
class Slot:
    """The moment a check may start (``at``), ``wait`` seconds from when it was asked; ``taken``:
    the clock was moved on for it (else it waits longer than allowed and took nothing)."""

    taken: bool
    at: datetime
    wait: float


def check_cost(size: int | None) -> float:
    """Seconds of a storage's clock one check of ``size`` bytes takes up."""
    by_count = 1.0 / settings.DLM_FIXITY_CHECKS_PER_SECOND
    by_bytes = (size or 0) / settings.DLM_FIXITY_BYTES_PER_SECOND
    return max(by_count, by_bytes)


def slot_take(storage_id: uuid.UUID, *, size: int | None, max_wait: float = MAX_SLEEP) -> Slot:
    """Reserve the storage's next moment for a check of ``size`` bytes: ``max(now, next_at)``,
    and move ``next_at`` on by the check's cost. When that moment is more than ``max_wait``
    seconds away, nothing is reserved (``taken`` false): the caller comes back at ``at``."""
    with transaction.atomic():
        FixityClock.objects.get_or_create(storage_id=storage_id)
        clock = FixityClock.objects.select_for_update().get(storage_id=storage_id)
        now = timezone.now()
        start = max(now, clock.next_at)
        wait = (start - now).total_seconds()
        if wait > max_wait:
            return Slot(taken=False, at=start, wait=wait)
        clock.next_at = start + timedelta(seconds=check_cost(size))
        clock.save(update_fields=["next_at"])
    return Slot(taken=True, at=start, wait=wait)

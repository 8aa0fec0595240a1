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
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

MIGRATION_UPDATE = "dlm.migration.update"
RELAY_TASK = "events.tasks.relay_run"

_lock = threading.Lock()
_last_kick = float("-inf")


def emit(event_type: str, *, subjects: dict[str, Any], payload: dict[str, Any]) -> None:
    """Record event ``event_type`` about ``subjects`` (ids) with its JSON ``payload`` (uuids and
    times become text), in the caller's transaction."""
    from core.models import OutboxEvent

    OutboxEvent.objects.create(event_type=event_type, subjects=_jsonable(subjects), payload=_jsonable(payload))
    transaction.on_commit(relay_soon)


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

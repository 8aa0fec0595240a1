"""The outbox relay: pending ``OutboxEvent`` rows to RabbitMQ, each at least once.

A pass claims the due pending rows in one transaction: on PostgreSQL with ``SELECT … FOR UPDATE
SKIP LOCKED`` ordered by id, so several relays (every worker may run one) never send the same row;
on SQLite the transaction is IMMEDIATE (``dlm/settings.py``), so one relay at a time. Each event is
published under publisher confirms and marked sent only once the broker has it, in the claiming
transaction: a relay killed between the two leaves the row pending and it is sent again, with the
same ``outbox_id`` header (consumers de-duplicate by it). The batch is published at once and its
confirms awaited together (``events.amqp``). A failed publish counts an attempt and
sets the next one after a doubling delay; after ``DLM_OUTBOX_MAX_ATTEMPTS`` the event is dead,
logged as an error and shown in the admin, where it can be sent again. Sent rows are deleted after
``DLM_OUTBOX_RETENTION`` seconds.

With ``DLM_AMQP_URL`` unset nothing is published: ``emit`` still writes the rows, and the relay
marks them sent without publishing them (so they do not pile up).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.models import OutboxEvent, OutboxState
from events import webhooks
from events.amqp import publisher

log = logging.getLogger("dlm.events")

MAX_DELAY = 3600.0  # seconds: the longest wait between two attempts at an event


def retry_delay(attempts: int) -> timedelta:
    """How long an event waits after its ``attempts``-th failed publish."""
    return timedelta(seconds=min(settings.DLM_OUTBOX_RETRY_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY))


def _due(now: Any):
    rows = OutboxEvent.objects.filter(state=OutboxState.PENDING).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    return rows.order_by("id")


def relay_once(
    *, batch: int | None = None, after_publish: Callable[[OutboxEvent], None] | None = None
) -> dict[str, int]:
    """One pass: publish up to ``batch`` due events, then delete old sent ones. Counts of what it
    did: ``claimed``, ``sent``, ``failed``, ``dead``, ``deleted``. ``after_publish`` (tests) is
    called after each confirmed publish, before the event is marked sent."""
    batch = batch or settings.DLM_OUTBOX_BATCH
    counts = {"claimed": 0, "sent": 0, "failed": 0, "dead": 0, "deleted": 0}
    pub = publisher()
    with transaction.atomic():
        rows = _due(timezone.now())
        if connection.vendor == "postgresql":
            rows = rows.select_for_update(skip_locked=True)
        events = list(rows[:batch])
        counts["claimed"] = len(events)
        error = ""
        confirmed = {event.id for event in events}
        if pub is not None and events:
            confirmed, error = pub.publish_many(events)
        sent: list[int] = []
        for event in events:
            if event.id in confirmed:
                if after_publish is not None:
                    after_publish(event)
                sent.append(event.id)
        failed = [event for event in events if event.id not in confirmed]
        if failed:
            _failed(failed, error or "RabbitMQ did not confirm the message", counts)
        if sent:
            webhooks.deliveries_create([event for event in events if event.id in confirmed])  # sent ⇔ fanned out
            now = timezone.now()
            for start in range(0, len(sent), 900):
                OutboxEvent.objects.filter(id__in=sent[start : start + 900]).update(
                    state=OutboxState.SENT, sent_at=now, last_attempt_at=now, attempts=F("attempts") + 1, last_error=""
                )
        counts["sent"] = len(sent)
    counts["deleted"] = sent_events_purge()
    if error:
        log.warning("outbox relay: %s event(s) not published: %s", counts["failed"], error)
    return counts


def _failed(events: list[OutboxEvent], error: str, counts: dict[str, int]) -> None:
    """Count a failed attempt at each event: due again after its backoff, or dead after the last
    (one update per number of attempts: a batch the broker missed is a few statements)."""
    now = timezone.now()
    by_attempts: dict[int, list[OutboxEvent]] = {}
    for event in events:
        by_attempts.setdefault(event.attempts + 1, []).append(event)
    for attempts, group in by_attempts.items():
        fields: dict[str, Any] = {"attempts": attempts, "last_attempt_at": now, "last_error": error[:2000]}
        if attempts >= settings.DLM_OUTBOX_MAX_ATTEMPTS:
            fields.update(state=OutboxState.DEAD, next_attempt_at=None)
            counts["dead"] += len(group)
            for event in group:
                log.error(
                    "outbox event %s (%s) is dead after %s attempts: %s", event.id, event.event_type, attempts, error
                )
        else:
            fields["next_attempt_at"] = now + retry_delay(attempts)
        ids = [event.id for event in group]
        for start in range(0, len(ids), 900):
            OutboxEvent.objects.filter(id__in=ids[start : start + 900]).update(**fields)
        counts["failed"] += len(group)


def sent_events_purge() -> int:
    """Delete the events sent more than ``DLM_OUTBOX_RETENTION`` seconds ago; how many."""
    before = timezone.now() - timedelta(seconds=settings.DLM_OUTBOX_RETENTION)
    ids = list(
        OutboxEvent.objects.filter(state=OutboxState.SENT, sent_at__lt=before).values_list("id", flat=True)[:5000]
    )
    if not ids:
        return 0
    deleted = 0
    for start in range(0, len(ids), 900):
        deleted += OutboxEvent.objects.filter(id__in=ids[start : start + 900]).delete()[0]
    return deleted


def dead_events_retry(*, ids: list[int]) -> int:
    """Make dead events pending again, due now, with their attempts from 0; how many."""
    return OutboxEvent.objects.filter(id__in=ids, state=OutboxState.DEAD).update(
        state=OutboxState.PENDING, attempts=0, next_attempt_at=None, last_error=""
    )

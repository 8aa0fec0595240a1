"""The relay's django-q2 task: queued after an emitting transaction commits (``core.events``) and
run by the schedule ``dlm-relay`` as a catch-up."""

from __future__ import annotations

import time

from django.conf import settings

from events.relay import relay_once
from events.webhooks import deliveries_send_once

RUN_LIMIT = 60.0  # seconds: a run gives its worker back after this; the next one goes on


def relay_run() -> dict[str, int]:
    """Relay until nothing is pending and for at least ``DLM_OUTBOX_POLL`` seconds (events
    committed meanwhile did not queue a run of their own: this one sends them). Totals."""
    began = time.monotonic()
    totals = {"claimed": 0, "sent": 0, "failed": 0, "dead": 0, "deleted": 0}
    while True:
        counts = relay_once()
        for key, value in counts.items():
            totals[key] += value
        elapsed = time.monotonic() - began
        if elapsed >= RUN_LIMIT:
            return totals
        if counts["claimed"] and not counts["failed"]:
            continue
        if elapsed >= settings.DLM_OUTBOX_POLL:
            return totals
        time.sleep(min(settings.DLM_OUTBOX_POLL - elapsed, 0.2) + 0.01)


def webhooks_run() -> dict[str, int]:
    """Send the due webhook deliveries, pass after pass, while some get delivered (at most ``RUN_LIMIT``
    seconds have passed: the next run goes on). Totals."""
    began = time.monotonic()
    totals = {"claimed": 0, "delivered": 0, "failed": 0, "dead": 0, "deferred": 0}
    while True:
        counts = deliveries_send_once()
        for key, value in counts.items():
            totals[key] += value
        if not counts["delivered"] or time.monotonic() - began >= RUN_LIMIT:  # none due, or all failing
            return totals

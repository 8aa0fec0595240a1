"""The relay without a broker, and against a broker that refuses: backoff, dead letters, retention."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.events import emit
from core.models import OutboxEvent, OutboxState
from events.relay import dead_events_retry, relay_once

pytestmark = pytest.mark.django_db


def test_with_amqp_off_the_relay_marks_events_sent_unpublished(settings):
    settings.DLM_AMQP_URL = ""
    emit("dlm.test.thing", subjects={}, payload={"n": 1})
    counts = relay_once()
    assert counts["claimed"] == 1 and counts["sent"] == 1
    event = OutboxEvent.objects.get()
    assert event.state == OutboxState.SENT and event.sent_at is not None and event.attempts == 1


@pytest.mark.parametrize(
    "url",
    ["amqp://dlm:s3cr3t-pw@127.0.0.1:1/%2F", "amqp://guest:s3cr3t-pw@127.0.0.1:5672/%2F"],
    ids=["closed-port", "wrong-password"],
)
def test_a_refusing_broker_backs_off_then_dead_letters_and_never_shows_the_password(settings, url, caplog):
    settings.DLM_AMQP_URL = url
    settings.DLM_AMQP_EXCHANGE = "dlm.test.refused"
    settings.DLM_OUTBOX_MAX_ATTEMPTS = 3
    settings.DLM_OUTBOX_RETRY_DELAY = 10
    emit("dlm.test.thing", subjects={}, payload={"n": 1})
    counts = relay_once()
    event = OutboxEvent.objects.get()
    assert counts["failed"] == 1 and event.state == OutboxState.PENDING and event.attempts == 1
    assert "RabbitMQ publish failed" in event.last_error and "s3cr3t-pw" not in event.last_error
    assert timedelta(seconds=9) < event.next_attempt_at - timezone.now() <= timedelta(seconds=10)
    assert relay_once()["claimed"] == 0  # not due yet
    OutboxEvent.objects.update(next_attempt_at=timezone.now())
    relay_once()
    event.refresh_from_db()
    assert event.attempts == 2 and event.next_attempt_at - timezone.now() > timedelta(seconds=19)  # doubled
    OutboxEvent.objects.update(next_attempt_at=timezone.now())
    assert relay_once()["dead"] == 1
    event.refresh_from_db()
    assert event.state == OutboxState.DEAD and event.attempts == 3
    assert "s3cr3t-pw" not in caplog.text and "is dead after 3 attempts" in caplog.text
    assert relay_once()["claimed"] == 0  # dead: left alone, and kept (nothing lost)
    assert dead_events_retry(ids=[event.id]) == 1
    settings.DLM_AMQP_URL = ""
    assert relay_once()["sent"] == 1


def test_sent_events_are_deleted_after_the_retention(settings):
    settings.DLM_AMQP_URL = ""
    settings.DLM_OUTBOX_RETENTION = 3600
    emit("dlm.test.old", subjects={}, payload={})
    emit("dlm.test.new", subjects={}, payload={})
    relay_once()
    OutboxEvent.objects.filter(event_type="dlm.test.old").update(sent_at=timezone.now() - timedelta(hours=2))
    assert relay_once()["deleted"] == 1
    assert list(OutboxEvent.objects.values_list("event_type", flat=True)) == ["dlm.test.new"]


def test_the_relay_command_prints_its_counts(settings):
    settings.DLM_AMQP_URL = ""
    for n in range(3):
        emit("dlm.test.thing", subjects={}, payload={"n": n})
    out = StringIO()
    call_command("relay", "--once", "--batch", "2", stdout=out)
    assert "claimed=2 sent=2" in out.getvalue()
    out = StringIO()
    call_command("relay", stdout=out)
    assert "sent=1" in out.getvalue()
    assert not OutboxEvent.objects.filter(state=OutboxState.PENDING).exists()

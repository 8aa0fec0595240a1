"""The relay across a restart of its RabbitMQ broker: nothing emitted is lost, and the relay finds
the broker again by itself."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from core.events import MIGRATION_UPDATE, emit
from core.models import OutboxEvent, OutboxState
from events.amqp import Publisher, publisher
from events.relay import relay_once
from tests.events.private_broker import PrivateBroker, private_broker  # noqa: F401  (fixture)
from tests.events.rabbitmq import Watcher

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture
def relay_to_private_broker(private_broker, settings) -> Iterator[PrivateBroker]:  # noqa: F811
    """The relay pointed at the private node, on an exchange of this test's own, retrying at once."""
    settings.DLM_AMQP_URL = private_broker.url
    settings.DLM_AMQP_EXCHANGE = f"dlm.test.{uuid.uuid4().hex}"
    settings.DLM_OUTBOX_RETRY_DELAY = 0  # a failed event is due again on the next pass
    yield private_broker
    current = publisher()
    if current is not None:
        current.close()


def emit_updates(first: int, count: int) -> None:
    for n in range(first, first + count):
        emit(MIGRATION_UPDATE, subjects={"migration_id": n}, payload={"migration_id": n, "complete": False})


def relay_until_nothing_pending(passes: int = 5) -> int:
    sent = 0
    for _ in range(passes):
        sent += relay_once()["sent"]
        if not OutboxEvent.objects.filter(state=OutboxState.PENDING).exists():
            break
    return sent


def test_a_broker_restart_mid_stream_loses_no_event(relay_to_private_broker, settings, caplog):
    broker = relay_to_private_broker
    exchange = settings.DLM_AMQP_EXCHANGE
    declare = Publisher(broker.url, exchange)  # the relay's exchange, so the watcher can bind first
    declare._open()
    declare.close()
    watcher = Watcher(broker.url, exchange)

    emit_updates(1, 12)
    assert relay_until_nothing_pending() == 12
    relay = publisher()  # this process's connection to the broker, open after the first batch

    broker.stop()
    emit_updates(13, 9)
    down = list(OutboxEvent.objects.filter(state=OutboxState.PENDING).values_list("id", flat=True))
    assert len(down) == 9
    with caplog.at_level(logging.WARNING, logger="dlm.events"):
        for attempt in (1, 2):  # the first on the connection the stop cut, the second on a refused one
            counts = relay_once()
            assert counts["claimed"] == 9 and counts["sent"] == 0 and counts["failed"] == 9, attempt
    for event in OutboxEvent.objects.filter(id__in=down):
        assert event.state == OutboxState.PENDING and event.attempts == 2 and event.sent_at is None
        assert event.last_error.startswith("RabbitMQ publish failed")
        assert broker.password not in event.last_error and broker.url not in event.last_error
    assert "not published" in caplog.text and broker.password not in caplog.text

    broker.start()
    watcher = Watcher(broker.url, exchange, queue=watcher.queue)  # the old connection died with the node
    try:
        # The durable queue kept the first batch's persistent messages over the restart.
        assert watcher.channel.queue_declare(queue=watcher.queue, passive=True).method.message_count == 12
        assert relay_until_nothing_pending() == 9
        assert publisher() is relay  # the same publisher, connected again without a restart of DLM
        events = {event.id: event for event in OutboxEvent.objects.all()}
        assert len(events) == 21 and {event.state for event in events.values()} == {OutboxState.SENT}
        assert all(events[id_].last_error == "" and events[id_].attempts == 3 for id_ in down)
        got = watcher.drain(expect=21)
        assert {m.headers["outbox_id"] for m in got} == set(events)  # each at least once, none lost
        for message in got:
            assert message.body == events[message.headers["outbox_id"]].payload and message.delivery_mode == 2
    finally:
        watcher.close()


def test_a_broker_restarted_between_two_passes_costs_no_attempt(relay_to_private_broker, settings):
    broker = relay_to_private_broker
    emit_updates(1, 3)
    assert relay_until_nothing_pending() == 3  # the relay's connection is open, and idle

    broker.stop()
    broker.start()
    emit_updates(4, 5)
    counts = relay_once()  # its kept connection died unseen: the batch goes again on a new one

    assert counts["sent"] == 5 and counts["failed"] == 0
    assert set(OutboxEvent.objects.filter(id__gt=3).values_list("attempts", "last_error")) == {(1, "")}

"""The relay against the real broker, heard by a consumer written as upstream's watcher."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from core.events import MIGRATION_UPDATE, emit
from core.models import OutboxEvent, OutboxState
from events.relay import relay_once
from migrations_app.services import copy_job_create
from tests.events.rabbitmq import amqp, watcher  # noqa: F401  (fixtures)
from tests.lifecycle.helpers import local_place, register, run_jobs


@pytest.mark.django_db
def test_the_watcher_receives_every_migration_update_of_a_copy(tmp_path, watcher):  # noqa: F811
    source = local_place(tmp_path, "disk", "GAS")
    archive = local_place(tmp_path, "archive", "SOLID")
    item = register(source, "eb-001/vis.fits", b"x" * (1024 * 1024))
    job = copy_job_create(user="alice", uid=item.uid, destination_name=archive.storage.storage_name)
    run_jobs()
    everything = OutboxEvent.objects.count()  # the items' events too, which the watcher is not bound to
    emitted = list(OutboxEvent.objects.filter(event_type=MIGRATION_UPDATE).order_by("id"))
    assert relay_once()["sent"] == everything > len(emitted) >= 3
    got = watcher.drain(expect=len(emitted))
    assert [m.headers["outbox_id"] for m in got] == [e.id for e in emitted]
    first = got[0]
    assert first.routing_key == MIGRATION_UPDATE and first.content_type == "application/json"
    assert first.delivery_mode == 2
    assert first.headers["event_type"] == MIGRATION_UPDATE and first.headers["created_at"].startswith("20")
    assert [m.body for m in got] == [e.payload for e in emitted]
    assert got[-1].body["migration_id"] == job.migration_id and got[-1].body["complete"] is True
    assert got[-1].body["job_status"]["success"] is True


@pytest.mark.django_db
def test_a_relay_killed_between_publish_and_mark_sends_again_with_the_same_outbox_id(watcher):  # noqa: F811
    emit(MIGRATION_UPDATE, subjects={"migration_id": 1}, payload={"migration_id": 1})

    def killed(event):
        raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        relay_once(after_publish=killed)
    event = OutboxEvent.objects.get()
    assert event.state == OutboxState.PENDING  # the mark was never committed
    assert relay_once()["sent"] == 1
    got = watcher.drain(expect=2)
    assert [m.headers["outbox_id"] for m in got] == [event.id, event.id]


# Serialized, as every transactional test in the suite: its flush must leave no content types behind.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_relays_on_postgresql_send_each_event_once(watcher, settings):  # noqa: F811
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED claims: PostgreSQL (SQLite runs one relay at a time)")
    settings.DLM_OUTBOX_BATCH = 20
    OutboxEvent.objects.bulk_create(
        OutboxEvent(event_type=MIGRATION_UPDATE, subjects={}, payload={"n": n}) for n in range(300)
    )
    barrier = threading.Barrier(2)
    sent: list[int] = []

    def relay() -> None:
        try:
            barrier.wait()
            while (counts := relay_once())["claimed"]:
                sent.append(counts["sent"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=relay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(sent) == 300
    got = watcher.drain(expect=300)
    ids = [m.headers["outbox_id"] for m in got]
    assert len(ids) == 300 and len(set(ids)) == 300
    assert not OutboxEvent.objects.exclude(state=OutboxState.SENT).exists()

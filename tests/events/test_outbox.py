"""The outbox: events are written in the transaction of the change they report, and the copy jobs
emit upstream's ``dlm.migration.update``."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from core.events import MIGRATION_UPDATE, emit
from core.models import OutboxEvent, OutboxState
from migrations_app.services import copy_job_cancel, copy_job_create
from tests.lifecycle.helpers import local_place, register, run_jobs

pytestmark = pytest.mark.django_db

UPSTREAM_KEYS = [
    "migration_id", "job_id", "oid", "url", "source_storage_id", "destination_storage_id", "user", "group",
    "job_status", "job_stats", "complete", "date", "completion_date", "command",
]  # fmt: skip


def test_emit_writes_a_pending_event_with_json_payload():
    oid = uuid.uuid4()
    emit("dlm.test.thing", subjects={"oid": oid}, payload={"oid": oid, "n": 1})
    event = OutboxEvent.objects.get()
    assert event.state == OutboxState.PENDING and event.attempts == 0
    assert event.subjects == {"oid": str(oid)}
    assert event.payload == {"oid": str(oid), "n": 1}


def test_a_rolled_back_change_emits_nothing():
    with pytest.raises(RuntimeError), transaction.atomic():
        emit("dlm.test.thing", subjects={}, payload={"x": 1})
        raise RuntimeError("the change fails")
    assert not OutboxEvent.objects.exists()


def _copy(tmp_path, data: bytes = b"visibilities"):
    source = local_place(tmp_path, "disk", "GAS")
    archive = local_place(tmp_path, "archive", "SOLID")
    item = register(source, "eb-001/vis.fits", data)
    job = copy_job_create(user="alice", uid=item.uid, destination_name=archive.storage.storage_name)
    return item, job, archive


def test_a_copy_job_emits_migration_updates_with_upstreams_row(tmp_path):
    item, job, archive = _copy(tmp_path)
    run_jobs()
    events = list(OutboxEvent.objects.filter(event_type=MIGRATION_UPDATE).order_by("id"))
    states = [e.payload["state"] for e in events]
    assert states[0] == "running" and states[-1] == "completed"
    assert "verifying" in states
    last = events[-1].payload
    assert set(UPSTREAM_KEYS) <= set(last) and {"state", "attempts", "last_error"} <= set(last)
    assert last["migration_id"] == job.migration_id
    assert last["oid"] == str(item.oid) and isinstance(last["source_storage_id"], str)
    assert last["destination_storage_id"] == str(archive.storage.storage_id)
    assert last["complete"] is True and last["job_status"]["success"] is True and last["job_status"]["finished"]
    assert last["completion_date"] and "T" in last["date"]
    assert last["user"] == "alice"
    assert [e.payload["complete"] for e in events[:-1]] == [False] * (len(events) - 1)
    assert events[-1].subjects == {"migration_id": job.migration_id, "oid": str(item.oid)}


def test_a_large_copy_emits_its_progress(tmp_path):
    _copy(tmp_path, b"x" * (2 * 1024 * 1024))  # above the small-file limit: an rclone job, polled
    run_jobs()
    payloads = [e.payload for e in OutboxEvent.objects.filter(event_type=MIGRATION_UPDATE).order_by("id")]
    running = [p for p in payloads if p["state"] == "running"]
    assert len(running) >= 2  # the claim, then at least one progress write
    assert any(p["job_stats"] and "bytes" in p["job_stats"] for p in running)
    assert payloads[-1]["complete"] is True and payloads[-1]["bytes_done"] == 2 * 1024 * 1024


def test_cancelling_a_queued_job_emits_its_end(tmp_path):
    _item, job, _archive = _copy(tmp_path)
    copy_job_cancel(migration_id=job.migration_id)
    event = OutboxEvent.objects.get(event_type=MIGRATION_UPDATE)
    assert event.payload["state"] == "cancelled" and event.payload["complete"] is True
    assert event.payload["job_status"]["success"] is False


def test_a_failed_copy_emits_its_failure(tmp_path, settings):
    settings.DLM_COPY_MAX_ATTEMPTS = 1
    item, job, _archive = _copy(tmp_path)
    (tmp_path / "disk" / "data" / "eb-001" / "vis.fits").unlink()  # the source's bytes are gone
    run_jobs()
    last = OutboxEvent.objects.filter(event_type=MIGRATION_UPDATE).order_by("id").last().payload
    assert last["state"] == "failed" and last["complete"] is True and last["last_error"]

"""Every event type besides the copy jobs' ``dlm.migration.update``, emitted by a test of the change
it reports, its payload checked: items registered, READY, CORRUPTED and DELETED, deletion jobs, the
lifecycle's decisions, placement rules satisfied, scans finished. A refused change tells nothing."""

from __future__ import annotations

import pytest

from catalogue.models import DataItem
from core.events import (
    DELETION_UPDATE,
    ITEM_CORRUPTED,
    ITEM_DELETED,
    ITEM_READY,
    ITEM_REGISTERED,
    LIFECYCLE_DECISION,
    RULE_SATISFIED,
    SCAN_FINISHED,
)
from core.models import OutboxEvent
from integrity import scans
from lifecycle import services as lifecycle_services
from lifecycle.engine import lifecycle_pass
from migrations_app.services import copy_job_create, deletion_job_create
from tests.lifecycle.helpers import local_place, register, run_jobs

pytestmark = pytest.mark.django_db


def _events(event_type: str) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(event_type=event_type).order_by("id"))


def _payloads(event_type: str) -> list[dict]:
    return [event.payload for event in _events(event_type)]


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.DLM_COPY_RETRY_DELAY = 0


@pytest.fixture
def disk(tmp_path):
    return local_place(tmp_path, "disk", "GAS")


@pytest.fixture
def archive(tmp_path):
    return local_place(tmp_path, "archive", "SOLID")


def test_an_item_registered_ready_tells_registered_then_ready_with_its_row(api, disk):
    disk.write("eb-1/vis.fits", b"visibilities")
    response = api.post(
        "/ingest/register_data_item",
        {"item_name": "eb-1/vis.fits", "uri": "eb-1/vis.fits", "storage_name": "disk"},
        body={"telescope": "low"},
    )
    assert response.status_code == 200, response.content
    uid = response.json()

    [registered] = _events(ITEM_REGISTERED)
    [ready] = _events(ITEM_READY)
    assert registered.id < ready.id
    row = registered.payload
    assert row["uid"] == uid and row["oid"] == uid and row["item_name"] == "eb-1/vis.fits"
    assert row["item_state"] == "READY" and row["uri"] == "eb-1/vis.fits" and row["item_size"] == 12
    assert row["storage_id"] == str(disk.storage.storage_id) and "T" in row["uid_creation"]
    assert registered.subjects == {"uid": uid, "oid": uid, "storage_id": str(disk.storage.storage_id)}
    assert ready.payload == row


def test_a_refused_registration_tells_nothing(api, disk):
    disk.write("a.fits", b"a")
    register(disk, "a.fits", b"a")
    before = OutboxEvent.objects.count()
    response = api.post("/ingest/register_data_item", {"item_name": "a.fits", "uri": "a.fits", "storage_name": "disk"})
    assert response.status_code == 422 and "a.fits" in response.json()["message"]
    assert OutboxEvent.objects.count() == before


def test_a_bulk_registration_tells_of_every_item(api, disk):
    items = [{"item_name": f"night/{n}.fits", "uri": f"night/{n}.fits", "item_size": n} for n in range(150)]
    response = api.post(
        "/ingest/register_data_items", {"storage_name": "disk", "do_storage_access_check": False}, body=items
    )
    assert response.status_code == 200, response.content
    uids = response.json()
    assert [p["uid"] for p in _payloads(ITEM_REGISTERED)] == uids
    assert [p["uid"] for p in _payloads(ITEM_READY)] == uids
    assert {p["item_name"] for p in _payloads(ITEM_REGISTERED)} == {item["item_name"] for item in items}


def test_a_copy_tells_of_its_new_copy_then_of_it_ready(disk, archive):
    item = register(disk, "eb-2/vis.fits", b"visibilities")
    job = copy_job_create(user="alice", uid=item.uid, destination_name="archive")
    [registered] = [p for p in _payloads(ITEM_REGISTERED) if p["uid"] == str(job.destination_uid)]
    assert registered["item_state"] == "INITIALISED" and registered["oid"] == str(item.oid)
    assert not [p for p in _payloads(ITEM_READY) if p["uid"] == str(job.destination_uid)]

    run_jobs()

    [ready] = [p for p in _payloads(ITEM_READY) if p["uid"] == str(job.destination_uid)]
    assert ready["item_state"] == "READY" and ready["storage_id"] == str(archive.storage.storage_id)


def test_set_state_tells_corrupted_once(api, disk):
    item = register(disk, "b.fits", b"b")
    for _ in range(2):  # the second sets the state it has: nothing to tell
        response = api.patch("/request/set_state", {"uid": str(item.uid), "state": "CORRUPTED"})
        assert response.status_code == 200, response.content
    [corrupted] = _payloads(ITEM_CORRUPTED)
    assert corrupted["uid"] == str(item.uid) and corrupted["item_state"] == "CORRUPTED"

    response = api.patch("/request/set_state", {"uid": str(item.uid), "state": "READY"})
    assert response.status_code == 200
    assert [p["uid"] for p in _payloads(ITEM_READY)] == [str(item.uid), str(item.uid)]  # registered, then set


def test_a_deletion_job_tells_its_states_and_the_copy_deleted(disk, archive):
    item = register(disk, "c.fits", b"c")
    copy_job_create(user="alice", uid=item.uid, destination_name="archive")
    run_jobs()
    deletion = deletion_job_create(uid=item.uid, user="alice")
    run_jobs()

    payloads = _payloads(DELETION_UPDATE)
    assert [p["state"] for p in payloads][0] == "queued"
    assert [p["state"] for p in payloads][-1] == "completed"
    assert "running" in [p["state"] for p in payloads]
    last = payloads[-1]
    assert last["deletion_id"] == deletion.deletion_id and last["uid"] == str(item.uid)
    assert last["items_deleted"] == 1 and last["finished_at"]
    [deleted] = _payloads(ITEM_DELETED)
    assert deleted["uid"] == str(item.uid) and deleted["item_state"] == "DELETED"
    assert not (disk.root / "data" / "c.fits").exists()


def test_the_lifecycle_tells_its_copies_and_a_rule_satisfied_once(disk, tmp_path):
    local_place(tmp_path, "solid", "SOLID")
    lifecycle_services.rule_create(
        fields={"name": "keep-solid", "item_name_pattern": "raw/", "copies": 1, "min_phase": "SOLID"}
    )
    item = register(disk, "raw/d.fits", b"d", target_phase="GAS")  # only the rule asks for a copy

    lifecycle_pass()
    [decision] = _payloads(LIFECYCLE_DECISION)
    assert decision["action"] == "copy" and decision["step"] == "rules" and decision["rule"] == "keep-solid"
    assert decision["oid"] == str(item.oid) and decision["destination"] == "solid" and decision["job"]
    assert decision["pass_id"]
    assert not _events(RULE_SATISFIED)  # the copy is on its way

    run_jobs()
    lifecycle_pass()
    lifecycle_pass()  # still satisfied: not told again

    [satisfied] = _events(RULE_SATISFIED)
    assert satisfied.subjects["oid"] == str(item.oid)
    assert satisfied.payload["rule"] == "keep-solid" and satisfied.payload["item_name"] == "raw/d.fits"
    assert {c["storage_name"] for c in satisfied.payload["copies"]} == {"disk", "solid"}
    assert len(_events(LIFECYCLE_DECISION)) == 1  # nothing more was decided


def test_a_dry_run_tells_nothing(disk, tmp_path):
    local_place(tmp_path, "solid", "SOLID")
    register(disk, "e.fits", b"e")  # below its target phase (SOLID): a pass would copy it
    before = OutboxEvent.objects.count()
    report = lifecycle_pass(dry_run=True)
    assert [d.action for d in report.decisions] == ["copy"]
    assert OutboxEvent.objects.count() == before


def test_a_scan_tells_its_end_with_its_counts(disk):
    register(disk, "f.fits", b"f")
    disk.write("stray.bin", b"not catalogued")
    scan = scans.scan_create(storage_id=disk.storage.storage_id, user="alice")
    assert not _events(SCAN_FINISHED)
    scans.scan_run(scan.pk)

    [finished] = _events(SCAN_FINISHED)
    assert finished.subjects == {"scan_id": scan.pk, "storage_id": str(disk.storage.storage_id)}
    row = finished.payload
    assert row["state"] == "completed" and row["storage_name"] == "disk"
    assert row["matched"] == 1 and row["dark"] == 1 and row["lost"] == 0 and row["finished_at"]


def test_a_cancelled_scan_tells_its_end(disk):
    scan = scans.scan_create(storage_id=disk.storage.storage_id, user="alice")
    scans.scan_cancel(scan.pk, user="bob")
    [finished] = _payloads(SCAN_FINISHED)
    assert finished["state"] == "cancelled" and finished["error"] == "cancelled by bob"


def test_a_rows_state_written_without_change_tells_nothing(disk):
    item = register(disk, "g.fits", b"g")
    before = OutboxEvent.objects.count()
    DataItem.objects.filter(uid=item.uid).update(item_state="READY")
    assert OutboxEvent.objects.count() == before

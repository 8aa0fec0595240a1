"""Repairs of bad copies: ``integrity.repair.copy_found_bad`` (the copy marked CORRUPTED, the
object's phase computed again, a repair job asked for) and the job it asks for,
``migrations_app.services.repair_job_create``, with its refusals; run by the real copy runner."""

from __future__ import annotations

import uuid

import pytest

from audit.choices import Action, ObjectType
from audit.models import AuditRecord
from catalogue.choices import ItemState
from catalogue.models import DataItem
from core.actor import Auth, Via
from core.errors import ObjectNotFound, UnmetPreconditionForOperation, ValueAlreadyInDB
from integrity import scans
from integrity.models import Finding, FindingStatus, ScanState
from integrity.repair import INTEGRITY_USER, copy_found_bad
from migrations_app.choices import JobOrigin
from migrations_app.models import Migration
from migrations_app.services import repair_job_create
from tests.integrity.test_fixity import DATA, Disk, check_now, local_disk, two_copies
from tests.lifecycle.helpers import run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_retries(settings):
    settings.DLM_COPY_RETRY_DELAY = 0


@pytest.fixture
def solid(tmp_path) -> Disk:
    return local_disk(tmp_path / "solid", storage_phase="SOLID")


@pytest.fixture
def gas(tmp_path) -> Disk:
    return local_disk(tmp_path / "gas", storage_phase="GAS")


def _phase(item: DataItem) -> str:
    return DataItem.objects.get(uid=item.uid).oid_phase


def test_phase_drops_while_bad_and_comes_back_once_repaired(solid, gas):
    item, good = two_copies(solid, gas)
    assert _phase(item) == "SOLID"
    solid.path(item.uri).write_bytes(b"garbage")

    repair = copy_found_bad(item.uid, lost=False, detail="size differs", user="scanner")

    assert repair.problem == ""
    assert _phase(item) == "GAS"  # only the GAS copy counts now
    job = Migration.objects.get(pk=repair.migration_id)
    assert (job.origin, job.user, job.destination_path) == (JobOrigin.REPAIR, "scanner", item.uri)
    assert "size differs" in job.reason
    assert copy_found_bad(item.uid, lost=False, detail="again").migration_id == job.pk  # no second job
    run_jobs()
    assert DataItem.objects.get(uid=item.uid).item_state == ItemState.READY
    assert _phase(item) == "SOLID"
    assert solid.path(item.uri).read_bytes() == DATA


def test_a_copy_a_copy_job_wrote_is_repaired_in_place_again_and_again(solid, gas):
    """The copy keeps its uid: each repair is one more job writing into its row."""
    item, copy = two_copies(solid, gas)
    jobs = []
    for garbage in (b"garbage", b"more garbage"):
        gas.path(copy.uri).write_bytes(garbage)

        repair = copy_found_bad(copy.uid, lost=False, detail="md5 differs")

        assert repair.problem == "" and repair.migration_id not in jobs
        jobs.append(repair.migration_id)
        run_jobs()
        assert DataItem.objects.get(uid=copy.uid).item_state == ItemState.READY
        assert gas.path(copy.uri).read_bytes() == DATA
    assert Migration.objects.filter(destination_uid=copy.uid).count() == 3  # the copy, two repairs


def test_a_repair_that_fails_for_good_leaves_the_copy_corrupted(solid, gas, settings):
    settings.DLM_COPY_MAX_ATTEMPTS = 1
    item, copy = two_copies(solid, gas)
    gas.path(copy.uri).write_bytes(b"garbage")
    repair = copy_found_bad(copy.uid, lost=False, detail="md5 differs")
    solid.path(item.uri).unlink()  # the good copy's bytes go too, behind DLM's back

    run_jobs()

    assert Migration.objects.get(pk=repair.migration_id).state == "failed"
    assert DataItem.objects.get(uid=copy.uid).item_state == ItemState.CORRUPTED  # never dropped
    assert gas.path(copy.uri).exists()


def test_copy_in_another_state_is_not_judged(solid):
    item = solid.register("e.bin", DATA)
    DataItem.objects.filter(uid=item.uid).update(item_state=ItemState.EXPIRED)
    repair = copy_found_bad(item.uid, lost=True, detail="gone")
    assert repair.migration_id is None and "EXPIRED" in repair.problem
    assert DataItem.objects.get(uid=item.uid).item_state == ItemState.EXPIRED


def test_repair_refusals(solid, gas):
    with pytest.raises(ObjectNotFound):
        repair_job_create(uid=uuid.uuid4(), user="t", reason="")
    item, good = two_copies(solid, gas)
    with pytest.raises(UnmetPreconditionForOperation, match="only a CORRUPTED copy"):
        repair_job_create(uid=item.uid, user="t", reason="")  # READY: nothing to repair

    only = solid.register("lonely.bin", DATA)
    DataItem.objects.filter(uid=only.uid).update(item_state=ItemState.CORRUPTED)
    with pytest.raises(UnmetPreconditionForOperation, match="No READY copy"):
        repair_job_create(uid=only.uid, user="t", reason="")
    assert DataItem.objects.get(uid=only.uid).item_state == ItemState.CORRUPTED

    DataItem.objects.filter(uid=item.uid).update(item_state=ItemState.CORRUPTED)
    repair_job_create(uid=item.uid, user="t", reason="bad")
    with pytest.raises(ValueAlreadyInDB, match="already writing"):
        repair_job_create(uid=item.uid, user="t", reason="bad")


# --- the audit trail ---------------------------------------------------------------------------


def _job_created_record(migration_id: int) -> AuditRecord:
    """The audit record of the repair job's row being created (one, and only one)."""
    return AuditRecord.objects.get(object_type=ObjectType.MIGRATION, object_id=str(migration_id), action=Action.CREATE)


def test_a_repair_started_by_a_fixity_check_is_audited_as_the_integrity_checks(solid, gas):
    item, _ = two_copies(solid, gas)
    solid.flip_byte(item.uri)

    check = check_now(item)

    record = _job_created_record(check.repair_migration_id)
    assert (record.username, record.auth, record.via, record.operation) == (
        INTEGRITY_USER, Auth.SYSTEM, Via.INTEGRITY, "copy_found_bad",
    )  # fmt: skip
    assert record.changes["origin"] == JobOrigin.REPAIR
    assert record.changes["destination_uid"] == str(item.uid)
    assert "copy found corrupted" in record.changes["reason"]
    marked = AuditRecord.objects.filter(object_type=ObjectType.DATA_ITEM, object_id=str(item.uid), via=Via.INTEGRITY)
    assert any(rec.changes.get("item_state") == ["READY", "CORRUPTED"] for rec in marked)


def test_a_repair_started_by_a_scan_is_audited_as_the_scan(solid, gas):
    item, _ = two_copies(solid, gas)
    solid.register("still-there.bin", DATA)  # an empty listing would judge nothing
    solid.path(item.uri).unlink()
    scan = scans.scan_create(storage_id=solid.storage.storage_id, user="alice")

    assert scans.scan_run(scan.pk) == ScanState.COMPLETED

    finding = Finding.objects.get(scan=scan)
    assert finding.status == FindingStatus.REPAIRING
    record = _job_created_record(finding.migration_id)
    assert (record.username, record.auth, record.via, record.operation) == (
        scans.SCAN_USER, Auth.SYSTEM, Via.INTEGRITY, "scan_storage",
    )  # fmt: skip
    assert record.changes["origin"] == JobOrigin.REPAIR
    assert record.changes["destination_uid"] == str(item.uid)
    assert f"copy found lost: scan {scan.pk}" in record.changes["reason"]
    # the finding itself is in the trail under the same actor
    found = AuditRecord.objects.filter(object_type=ObjectType.SCAN_FINDING, object_id=str(finding.pk))
    assert {(rec.username, rec.via) for rec in found} == {(scans.SCAN_USER, Via.INTEGRITY)}

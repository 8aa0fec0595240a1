"""The scan operations over HTTP: a scan queued, its rows and findings, its CSV report, dark files
registered and quarantined (bytes moved, an item made, both in the audit trail), the refusals,
and who may call what."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from audit.models import AuditRecord
from catalogue.choices import ItemState
from catalogue.models import DataItem
from integrity import scans
from integrity.models import Finding, FindingKind, FindingStatus, Scan, ScanState
from tests.integrity.test_scans import local_disk, s3_disk

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["local", "s3"])
def disk(request, tmp_path):
    if request.param == "local":
        return local_disk(tmp_path / "scanned")
    return s3_disk(request.getfixturevalue("s3_server"))


def scanned(disk, operator_api) -> int:
    """A scan asked for over the API, then run here as a worker would."""
    answer = operator_api.post("/storage/scan_storage", {"storage_name": disk.storage.storage_name})
    assert answer.status_code == 200, answer.content
    scan_id = answer.json()["scan_id"]
    assert answer.json()["state"] == ScanState.QUEUED
    assert scans.scan_run(scan_id) == ScanState.COMPLETED
    return scan_id


def test_scan_storage_queues_a_scan_and_its_rows_show_the_counts(tmp_path, operator_api, viewer_api):
    disk = local_disk(tmp_path / "s")
    disk.register("kept.bin", b"kept")
    disk.write("stray.bin", b"stray")

    scan_id = scanned(disk, operator_api)

    rows = viewer_api.get("/storage/query_scans", {"storage_name": disk.storage.storage_name}).json()
    assert [(row["scan_id"], row["state"], row["matched"], row["dark"], row["lost"]) for row in rows] == [
        (scan_id, "completed", 1, 1, 0)
    ]
    assert rows[0]["requested_by"] == "operator-user"
    findings = viewer_api.get("/storage/query_scan_findings", {"scan_id": scan_id, "kind": "dark"}).json()
    assert [(row["path"], row["size"], row["status"]) for row in findings] == [("stray.bin", 5, "open")]
    assert viewer_api.get("/storage/query_scan_findings", {"scan_id": scan_id, "kind": "lost"}).json() == []


def test_scan_report_is_a_csv_download(tmp_path, operator_api, viewer_api):
    disk = local_disk(tmp_path / "r")
    disk.write("a.bin", b"a")
    disk.write("b.bin", b"bb")
    scan_id = scanned(disk, operator_api)

    answer = viewer_api.get("/storage/scan_report", {"scan_id": scan_id})

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    assert f"scan-{scan_id}.csv" in answer["Content-Disposition"]
    table = list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert table[0][:3] == ["finding_id", "kind", "path"]
    assert sorted(row[2] for row in table[1:]) == ["a.bin", "b.bin"]
    missing = viewer_api.get("/storage/scan_report", {"scan_id": scan_id + 99})
    assert missing.status_code == 404 and missing.json()["exec"] == "ObjectNotFound"


def test_dark_files_are_registered_in_bulk(disk, operator_api):
    disk.register("kept.bin", b"kept")
    disk.write("found/one.bin", b"one")
    disk.write("found/two.bin", b"two!")
    scan_id = scanned(disk, operator_api)
    ids = list(Finding.objects.filter(scan_id=scan_id, kind=FindingKind.DARK).values_list("pk", flat=True))

    answer = operator_api.post("/storage/register_dark_files", body=ids)

    assert answer.status_code == 200, answer.content
    rows = answer.json()
    assert [row["status"] for row in rows] == ["registered", "registered"]
    for row in rows:
        item = DataItem.objects.get(uid=row["uid"])
        assert (item.storage_id, item.uri, item.item_state) == (disk.storage.storage_id, row["path"], ItemState.READY)
        assert item.item_size == row["size"]
        assert AuditRecord.objects.filter(object_type="data_item", object_id=row["uid"], action="create").exists()
        record = AuditRecord.objects.get(object_type="scan_finding", object_id=str(row["finding_id"]), action="update")
        assert (record.username, record.operation) == ("operator-user", "register_dark_files")
    assert (disk.root / "found/one.bin").read_bytes() == b"one"  # registered where it lies
    assert operator_api.post("/storage/register_dark_files", body=ids).status_code == 422  # not open any more
    assert scans.scan_run(scans.scan_create(storage_id=disk.storage.storage_id, user="x").pk) == "completed"
    assert Scan.objects.order_by("-pk").first().dark == 0


def test_dark_files_are_quarantined_not_deleted(disk, operator_api):
    disk.register("kept.bin", b"kept")
    disk.write("junk/stray.bin", b"stray bytes")
    scan_id = scanned(disk, operator_api)
    finding = Finding.objects.get(scan_id=scan_id, kind=FindingKind.DARK)

    answer = operator_api.post("/storage/quarantine_dark_files", body=[finding.pk])

    assert answer.status_code == 200, answer.content
    row = answer.json()[0]
    target = f".dlm-quarantine/{scan_id}/junk/stray.bin"
    assert (row["status"], row["quarantine_path"]) == ("quarantined", target)
    assert not (disk.root / "junk/stray.bin").exists()
    assert (disk.root / target).read_bytes() == b"stray bytes"
    finding.refresh_from_db()
    assert (finding.status, finding.acted_by) == (FindingStatus.QUARANTINED, "operator-user")
    assert AuditRecord.objects.filter(object_type="scan_finding", object_id=str(finding.pk), action="update").exists()


def test_only_open_dark_findings_can_be_acted_on(tmp_path, operator_api):
    disk = local_disk(tmp_path / "refuse")
    item = disk.register("lost.bin", b"lost")
    disk.register("kept.bin", b"kept")
    (disk.root / "lost.bin").unlink()
    scan_id = scanned(disk, operator_api)
    lost = Finding.objects.get(scan_id=scan_id, kind=FindingKind.LOST)

    for path in ("/storage/register_dark_files", "/storage/quarantine_dark_files"):
        for body in ([lost.pk], [lost.pk + 1000], "nope", []):
            answer = operator_api.post(path, body=body)
            assert answer.status_code == 422, (path, body, answer.content)
            assert "finding_ids" in str(answer.json()) or "body" in str(answer.json())
    assert DataItem.objects.get(uid=item.uid).item_state == ItemState.CORRUPTED
    assert Finding.objects.get(pk=lost.pk).status == FindingStatus.UNREPAIRABLE


def test_scan_storage_refusals(tmp_path, operator_api):
    assert operator_api.post("/storage/scan_storage", {"storage_name": "nowhere"}).status_code == 422
    disk = local_disk(tmp_path / "twice")
    assert operator_api.post("/storage/scan_storage", {"storage_name": disk.storage.storage_name}).status_code == 200
    again = operator_api.post("/storage/scan_storage", {"storage_name": disk.storage.storage_name})
    assert again.status_code == 422 and "already" in again.json()["message"]
    assert operator_api.get("/storage/query_scan_findings", {"scan_id": "x"}).status_code == 422


def test_cancel_scan(tmp_path, operator_api):
    disk = local_disk(tmp_path / "cancel")
    scan_id = operator_api.post("/storage/scan_storage", {"storage_name": disk.storage.storage_name}).json()["scan_id"]
    answer = operator_api.post("/storage/cancel_scan", {"scan_id": scan_id})
    assert answer.status_code == 200 and answer.json()["state"] == "cancelled"
    assert operator_api.post("/storage/cancel_scan", {"scan_id": scan_id}).status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("post", "/storage/scan_storage", "operator"),
        ("post", "/storage/cancel_scan", "operator"),
        ("post", "/storage/register_dark_files", "operator"),
        ("post", "/storage/quarantine_dark_files", "operator"),
        ("get", "/storage/query_scans", "viewer"),
        ("get", "/storage/query_scan_findings", "viewer"),
        ("get", "/storage/scan_report", "viewer"),
    ],
)
def test_who_may_call_the_scan_operations(method, path, role, anon_api, viewer_api):
    assert reverse(path.rsplit("/", 1)[1])
    assert getattr(anon_api, method)(path).status_code == 401
    status = getattr(viewer_api, method)(path).status_code
    assert status == 403 if role == "operator" else status in (200, 422)  # allowed (422: no scan_id)

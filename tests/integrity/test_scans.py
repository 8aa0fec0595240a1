"""Consistency scans (``integrity.scans``) with a real rclone, on a local directory and on the S3
test server: lost copies and size mismatches found and repaired from a good copy, dark files
reported and left where they are, containers covering their files, a scan interrupted and
resumed, the schedule, cancelling, the report."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from catalogue.choices import ItemState
from catalogue.models import DataItem, Storage
from catalogue.services import storage_config_create, storage_update
from catalogue.services.ingest import data_item_register
from integrity import scanning, scans
from integrity.models import CheckOrigin, Finding, FindingKind, FindingStatus, Scan, ScanMark, ScanState
from migrations_app.choices import JobOrigin
from migrations_app.models import Migration
from migrations_app.services import copy_job_create
from tests.factories import make_storage
from tests.lifecycle.helpers import run_jobs

pytestmark = pytest.mark.django_db


class Disk:
    """A storage and its root directory as seen from here (where the test writes behind DLM's back)."""

    def __init__(self, storage: Storage, root: Path) -> None:
        self.storage = storage
        self.root = root

    def write(self, uri: str, data: bytes) -> Path:
        path = self.root / uri
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def register(self, uri: str, data: bytes, **fields) -> DataItem:
        self.write(uri, data)
        return data_item_register(owner="tester", item_name=uri, uri=uri, storage_id=self.storage.storage_id, **fields)


def local_disk(root: Path, **fields) -> Disk:
    root.mkdir(parents=True, exist_ok=True)
    storage = make_storage(root_directory="data", **fields)
    config = {"name": f"local-{storage.storage_name}", "type": "local", "root_path": str(root)}
    storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
    return Disk(storage, root / "data")


def s3_disk(server) -> Disk:
    storage = make_storage(root_directory="bucket1/dlm", storage_type="objectstore", storage_interface="s3")
    storage_config_create(storage_id=storage.storage_id, config=dict(server.config), check_remote=False)
    return Disk(storage, server.root / "bucket1" / "dlm")


@pytest.fixture(params=["local", "s3"])
def disk(request, tmp_path) -> Disk:
    """The storage scanned: a local directory, or a bucket of the S3 test server."""
    if request.param == "local":
        return local_disk(tmp_path / "scanned")
    return s3_disk(request.getfixturevalue("s3_server"))


@pytest.fixture
def good(tmp_path) -> Disk:
    """Another storage, holding the good copies a repair copies from."""
    return local_disk(tmp_path / "good")


def copied(good: Disk, disk: Disk, uri: str, data: bytes) -> DataItem:
    """An object registered on ``disk`` and copied to ``good`` by a real copy job: its copy on
    ``disk``, with a good one to repair it from."""
    copy = disk.register(uri, data)
    job = copy_job_create(user="tester", uid=copy.uid, destination_id=good.storage.storage_id)
    run_jobs()
    assert DataItem.objects.get(uid=job.destination_uid).item_state == ItemState.READY
    return copy


def scan_now(disk: Disk, **kwargs) -> Scan:
    scan = scans.scan_create(storage_id=disk.storage.storage_id, user="alice")
    assert scans.scan_run(scan.pk, **kwargs) == ScanState.COMPLETED
    return Scan.objects.get(pk=scan.pk)


def test_a_file_deleted_behind_dlms_back_is_lost_and_repaired(disk, good):
    copy = copied(good, disk, "eb-1/vis.fits", b"visibilities")
    copied(good, disk, "eb-2/vis.fits", b"more visibilities")
    (disk.root / "eb-1/vis.fits").unlink()

    scan = scan_now(disk)

    assert (scan.copies_expected, scan.matched, scan.lost, scan.dark, scan.mismatched) == (2, 1, 1, 0, 0)
    finding = Finding.objects.get(scan=scan)
    assert (finding.kind, finding.path, finding.item_id) == (FindingKind.LOST, "eb-1/vis.fits", copy.uid)
    assert finding.status == FindingStatus.REPAIRING
    job = Migration.objects.get(pk=finding.migration_id)
    assert job.origin == JobOrigin.REPAIR
    assert not ScanMark.objects.filter(scan=scan).exists()
    run_jobs()
    assert (disk.root / "eb-1/vis.fits").read_bytes() == b"visibilities"
    assert DataItem.objects.get(uid=copy.uid).item_state == ItemState.READY


def test_a_lost_copy_without_a_good_one_is_unrepairable(disk):
    item = disk.register("only/copy.bin", b"alone")
    disk.register("other.bin", b"still there")
    (disk.root / "only/copy.bin").unlink()

    scan = scan_now(disk)

    finding = Finding.objects.get(scan=scan)
    assert (finding.kind, finding.status, finding.migration_id) == (FindingKind.LOST, FindingStatus.UNREPAIRABLE, None)
    assert "not repaired" in finding.detail
    assert DataItem.objects.get(uid=item.uid).item_state == ItemState.CORRUPTED


def test_an_unregistered_file_is_dark_reported_and_left_alone(disk):
    disk.register("known.bin", b"known")
    dark = disk.write("stray/unknown.bin", b"nobody registered me")

    scan = scan_now(disk)

    assert (scan.matched, scan.lost, scan.dark, scan.entries_listed) == (1, 0, 1, 2)
    finding = Finding.objects.get(scan=scan)
    assert (finding.kind, finding.path, finding.size, finding.status) == (
        FindingKind.DARK, "stray/unknown.bin", 20, FindingStatus.OPEN,
    )  # fmt: skip
    assert dark.read_bytes() == b"nobody registered me"
    assert not DataItem.objects.filter(uri="stray/unknown.bin").exists()


def test_a_copy_with_another_size_is_mismatched_and_repaired(disk, good):
    copy = copied(good, disk, "eb-3/vis.fits", b"the right bytes")
    disk.write("eb-3/vis.fits", b"truncated")

    scan = scan_now(disk)

    assert (scan.matched, scan.mismatched, scan.lost, scan.dark) == (1, 1, 0, 0)
    finding = Finding.objects.get(scan=scan)
    assert (finding.kind, finding.size, finding.expected_size) == (FindingKind.MISMATCH, 9, 15)
    assert "size 9 listed, 15 catalogued" in finding.detail
    assert finding.status == FindingStatus.REPAIRING
    run_jobs()
    assert (disk.root / "eb-3/vis.fits").read_bytes() == b"the right bytes"
    assert DataItem.objects.get(uid=copy.uid).item_state == ItemState.READY


def test_a_same_size_copy_with_another_md5_is_mismatched_and_repaired_where_hashes_are_listed(
    s3_server, good, settings
):
    settings.DLM_COPY_RETRY_DELAY = 0
    disk = s3_disk(s3_server)
    copy = copied(good, disk, "eb-4/vis.fits", b"AAAA")
    disk.write("eb-4/vis.fits", b"BBBB")

    scan = scan_now(disk)

    assert scan.with_hashes and scan.mismatched == 1
    finding = Finding.objects.get(scan=scan)
    assert (finding.kind, finding.item_id) == (FindingKind.MISMATCH, copy.uid)
    assert finding.detail.startswith("md5 ")
    assert finding.status == FindingStatus.REPAIRING
    assert DataItem.objects.get(uid=copy.uid).item_state == ItemState.INITIALISED  # being written again
    run_jobs()
    assert Migration.objects.get(pk=finding.migration_id).state == "completed"
    assert (disk.root / "eb-4/vis.fits").read_bytes() == b"AAAA"
    assert DataItem.objects.get(uid=copy.uid).item_state == ItemState.READY
    assert scan_now(disk).mismatched == 0


def test_a_scan_asks_for_the_listings_hashes_only_where_they_are_cheap(disk):
    """S3 lists each object's md5 with it; a local disk would have to read every file to hash it."""
    disk.register("a.bin", b"a")
    scan = scan_now(disk)
    assert scan.with_hashes is (disk.storage.storage_interface == "s3")
    assert scan.matched == 1


def test_files_inside_a_registered_container_are_not_dark(disk):
    for name in ("a.dat", "sub/b.dat", "sub/c.dat"):
        disk.write(f"eb-5/{name}", name.encode())
    data_item_register(
        owner="tester", item_name="eb-5", uri="eb-5", item_type="container", storage_id=disk.storage.storage_id
    )

    scan = scan_now(disk)

    assert (scan.entries_listed, scan.matched, scan.dark, scan.lost, scan.mismatched) == (3, 1, 0, 0, 0)
    assert not Finding.objects.filter(scan=scan).exists()


def test_quarantined_files_are_not_dark_again(disk):
    disk.write(f"{scanning.QUARANTINE_DIR}/7/old.bin", b"set aside")
    assert scan_now(disk).dark == 0


def test_an_empty_listing_judges_nothing_lost(tmp_path):
    disk = local_disk(tmp_path / "mount")
    item = disk.register("a.bin", b"a")
    (disk.root / "a.bin").unlink()  # the mount point is there, empty: an unmounted disk
    scan = scans.scan_create(storage_id=disk.storage.storage_id, user="alice")
    assert scans.scan_run(scan.pk) == ScanState.FAILED
    scan.refresh_from_db()
    assert "nothing was judged lost" in scan.error
    assert DataItem.objects.get(uid=item.uid).item_state == ItemState.READY


def test_a_missing_root_fails_the_scan_without_judging(tmp_path):
    disk = local_disk(tmp_path / "gone")
    disk.register("a.bin", b"a")
    (disk.root / "a.bin").unlink()
    disk.root.rmdir()
    scan = scans.scan_create(storage_id=disk.storage.storage_id, user="alice")
    assert scans.scan_run(scan.pk) == ScanState.FAILED
    scan.refresh_from_db()
    assert "root directory was not found" in scan.error
    assert not Finding.objects.filter(scan=scan).exists()


class Interrupted(BaseException):
    """A worker killed mid-scan (not an error the scan catches)."""


def test_an_interrupted_scan_resumes_to_the_same_counts(disk, monkeypatch):
    monkeypatch.setattr(scanning, "CHUNK", 2)
    for index in range(5):
        disk.register(f"f{index}.bin", b"x" * index)
    for index in range(3):
        disk.write(f"dark/d{index}.bin", b"dark")
    scan = scans.scan_create(storage_id=disk.storage.storage_id, user="alice")
    calls = []

    def crash(row: Scan) -> None:
        calls.append(row.entries_listed)
        if len(calls) == 2:
            raise Interrupted()

    with pytest.raises(Interrupted):
        scans.scan_run(scan.pk, progress=crash)
    scan.refresh_from_db()
    assert (scan.state, scan.entries_listed) == (ScanState.RUNNING, 2)  # the second chunk was not written
    assert scans.scan_run(scan.pk) == ScanState.RUNNING  # its worker may be alive: left alone
    Scan.objects.filter(pk=scan.pk).update(heartbeat_at=timezone.now() - scans.STALE - timedelta(seconds=1))

    assert scans.scan_run(scan.pk) == ScanState.COMPLETED

    resumed = Scan.objects.get(pk=scan.pk)
    fresh = scan_now(disk)
    counts = ("entries_listed", "copies_expected", "matched", "lost", "dark", "mismatched", "bytes_listed")
    assert [getattr(resumed, name) for name in counts] == [getattr(fresh, name) for name in counts]
    assert (resumed.matched, resumed.dark, resumed.entries_listed) == (5, 3, 8)
    assert sorted(Finding.objects.filter(scan=resumed).values_list("path", flat=True)) == [
        "dark/d0.bin", "dark/d1.bin", "dark/d2.bin",
    ]  # fmt: skip


def test_a_scan_is_refused_while_one_of_the_storage_is_active(tmp_path):
    disk = local_disk(tmp_path / "busy")
    first = scans.scan_create(storage_id=disk.storage.storage_id, user="alice")
    with pytest.raises(scans.UnmetPreconditionForOperation) as caught:
        scans.scan_create(storage_name=disk.storage.storage_name, user="bob")
    assert caught.value.field == "storage_name" and str(first.pk) in str(caught.value)


def test_a_cancelled_scan_stops_and_keeps_no_marks(tmp_path):
    disk = local_disk(tmp_path / "cancel")
    disk.register("a.bin", b"a")
    scan = scans.scan_create(storage_id=disk.storage.storage_id, user="alice")
    cancelled = scans.scan_cancel(scan.pk, user="bob")
    assert cancelled.state == ScanState.CANCELLED
    assert scans.scan_run(scan.pk) == ScanState.CANCELLED
    with pytest.raises(scans.UnmetPreconditionForOperation):
        scans.scan_cancel(scan.pk, user="bob")


def test_scans_are_due_for_storages_never_or_long_ago_scanned(tmp_path, settings, django_capture_on_commit_callbacks):
    settings.DLM_SCAN_INTERVAL = 3600
    never = local_disk(tmp_path / "never")
    recent = local_disk(tmp_path / "recent")
    old = local_disk(tmp_path / "old")
    retired = local_disk(tmp_path / "retired")
    storage_update(storage_id=retired.storage.storage_id, fields={"storage_retired": True})
    make_storage()  # no rclone config: nothing to scan with
    now = timezone.now()
    Scan.objects.create(storage=recent.storage, state=ScanState.COMPLETED, finished_at=now - timedelta(minutes=5))
    Scan.objects.create(storage=old.storage, state=ScanState.COMPLETED, finished_at=now - timedelta(hours=2))

    with django_capture_on_commit_callbacks(execute=True):
        started = scans.scans_due()

    due = Scan.objects.filter(pk__in=started)
    assert {scan.storage_id for scan in due} == {never.storage.storage_id, old.storage.storage_id}
    assert {scan.origin for scan in due} == {CheckOrigin.SCHEDULE}
    assert OrmQ.objects.count() == 2  # a task each, for the workers
    assert scans.scans_due() == []  # queued already


def test_the_report_lists_every_finding_as_csv(tmp_path):
    disk = local_disk(tmp_path / "report")
    disk.write("x,with comma.bin", b"1")
    disk.write("y.bin", b"22")
    scan = scan_now(disk)
    lines = list(scans.scan_report_lines(scan.pk))
    table = list(csv.reader(io.StringIO("".join(lines))))
    assert table[0] == list(scans.REPORT_COLUMNS)
    found = [(row[1], row[2], row[3]) for row in table[1:]]
    assert found == [("dark", "x,with comma.bin", "1"), ("dark", "y.bin", "2")]
    with pytest.raises(scans.ObjectNotFound):
        scans.scan_report_lines(scan.pk + 1000)


def test_a_copy_named_otherwise_than_its_uri_is_found(disk):
    disk.write("x/y.bin", b"y")
    data_item_register(owner="t", item_name="my-item", uri="/x/y.bin", storage_id=disk.storage.storage_id)
    scan = scan_now(disk)
    assert (scan.matched, scan.dark, scan.lost) == (1, 0, 0)

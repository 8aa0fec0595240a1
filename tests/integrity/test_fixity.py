"""Fixity checks with a real rclone, on a local directory and on the S3 test server: a copy's bytes
re-verified (by the hash the storage serves, or read back and hashed), a damaged or lost copy
marked CORRUPTED and repaired from a good one by the real copy-job runner, a copy with no good
copy flagged and kept, an unreadable storage leaving the copy unjudged, the per-storage pace,
the schedule's share of the oldest-verified copies; and a check and its repair on a real worker."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from audit.models import AuditRecord
from catalogue.choices import ItemState
from catalogue.models import DataItem, Storage
from catalogue.services import storage_config_create
from catalogue.services.ingest import data_item_register
from core.actor import Via
from integrity.fixity import FIXITY_TASK, fixity_check_create, fixity_check_run, fixity_schedule
from integrity.models import CheckOrigin, CheckState, FixityCheck, FixityClock
from migrations_app.choices import JobOrigin
from migrations_app.models import Migration
from migrations_app.services import copy_job_create
from tests.factories import make_storage
from tests.lifecycle.helpers import run_jobs
from tests.migrations_app.test_worker import ROOT, _env, _row, _wait_for

pytestmark = pytest.mark.django_db

DATA = b"visibilities " * 1000


class Disk:
    """A storage, and its root directory as seen on this machine's disk."""

    def __init__(self, storage: Storage, root: Path) -> None:
        self.storage = storage
        self.root = root

    def path(self, uri: str) -> Path:
        return self.root / uri

    def register(self, uri: str, data: bytes) -> DataItem:
        """``data`` written at ``uri`` and registered there (READY, its size and md5 read by rclone)."""
        path = self.path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data_item_register(owner="tester", item_name=uri, uri=uri, storage_id=self.storage.storage_id)

    def flip_byte(self, uri: str, at: int = 0) -> None:
        """One byte of the file changed in place, its size and modification time kept (bit rot)."""
        path = self.path(uri)
        stat = path.stat()
        data = bytearray(path.read_bytes())
        data[at] ^= 0xFF
        path.write_bytes(bytes(data))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def local_disk(root: Path, **fields) -> Disk:
    root.mkdir(parents=True, exist_ok=True)
    storage = make_storage(root_directory="data", **fields)
    config = {"name": f"local-{storage.storage_name}", "type": "local", "root_path": str(root)}
    storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
    return Disk(storage, root / "data")


def s3_disk(server, **fields) -> Disk:
    storage = make_storage(root_directory="bucket1/dlm", storage_type="objectstore", storage_interface="s3", **fields)
    storage_config_create(storage_id=storage.storage_id, config=dict(server.config), check_remote=False)
    return Disk(storage, server.root / "bucket1" / "dlm")


def check_now(item: DataItem) -> FixityCheck:
    """A fixity check of the copy, queued as a client asks for one and run by this process."""
    check = fixity_check_create(uid=item.uid, user="tester")
    fixity_check_run(check.check_id)
    check.refresh_from_db()
    return check


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.DLM_COPY_RETRY_DELAY = 0
    settings.DLM_FIXITY_CHECKS_PER_SECOND = 1000.0
    settings.DLM_FIXITY_BYTES_PER_SECOND = 10**12


@pytest.fixture(params=["local", "s3"])
def disk(request, tmp_path) -> Disk:
    """The storage whose copy is damaged: a local directory, or the S3 test server."""
    if request.param == "local":
        return local_disk(tmp_path / "disk")
    return s3_disk(request.getfixturevalue("s3_server"))


@pytest.fixture
def spare(tmp_path) -> Disk:
    """A second storage, on a local directory, holding the good copy."""
    return local_disk(tmp_path / "spare")


def two_copies(disk: Disk, spare: Disk, uri: str = "eb-1/vis.fits") -> tuple[DataItem, DataItem]:
    """The object registered on ``disk`` and copied to ``spare`` by a real copy job."""
    item = disk.register(uri, DATA)
    job = copy_job_create(user="tester", uid=item.uid, destination_name=spare.storage.storage_name)
    run_jobs()
    return item, DataItem.objects.get(uid=job.destination_uid)


# --- passes -----------------------------------------------------------------------------------


def test_copy_job_verification_sets_last_verified_at(disk, spare):
    item, copy = two_copies(disk, spare)
    assert copy.item_state == ItemState.READY
    assert copy.last_verified_at is not None
    assert timezone.now() - copy.last_verified_at < timedelta(minutes=1)


def test_intact_copy_passes_by_the_hash_the_storage_serves(disk):
    item = disk.register("a.bin", DATA)
    check = check_now(item)
    assert check.state == CheckState.PASSED, check.detail
    assert (check.hash_type, check.downloaded, check.bytes_checked) == ("md5", False, len(DATA))
    item.refresh_from_db()
    assert item.item_state == ItemState.READY
    assert item.last_verified_at is not None and item.last_verified_at >= check.started_at


def test_hash_the_storage_does_not_serve_is_computed_from_the_bytes(s3_server):
    """S3 serves md5 only: a copy recorded with sha1 alone is read back and hashed."""
    disk = s3_disk(s3_server)
    item = disk.register("b.bin", DATA)
    DataItem.objects.filter(uid=item.uid).update(
        item_checksum=hashlib.sha1(DATA).hexdigest(), checksum_method="sha1", hashes={}
    )
    check = check_now(item)
    assert check.state == CheckState.PASSED, check.detail
    assert (check.hash_type, check.downloaded) == ("sha1", True)

    disk.flip_byte("b.bin", at=5)
    check = check_now(item)
    assert check.state == CheckState.CORRUPTED
    assert (check.hash_type, check.downloaded) == ("sha1", True)
    assert "sha1" in check.detail


# --- damaged, lost, repaired ------------------------------------------------------------------


def test_flipped_byte_is_found_and_repaired_from_the_good_copy(disk, spare):
    item, good = two_copies(disk, spare)
    disk.flip_byte(item.uri, at=100)
    before = timezone.now()

    check = check_now(item)

    assert check.state == CheckState.CORRUPTED
    assert "md5" in check.detail
    item.refresh_from_db()
    assert item.item_state == ItemState.INITIALISED  # being written again by the repair job
    repair = Migration.objects.get(pk=check.repair_migration_id)
    assert (repair.origin, repair.source_uid, repair.destination_uid) == (JobOrigin.REPAIR, good.uid, item.uid)
    marked = AuditRecord.objects.filter(object_id=str(item.uid), via=Via.INTEGRITY, at__gte=before)
    assert any(rec.changes.get("item_state", [None, None])[-1] == "CORRUPTED" for rec in marked), list(
        marked.values("changes")
    )

    run_jobs()  # the repair, by the copy-job runner (its first attempt finds the same size and time,
    # skips the copy, fails the verification and removes the bad bytes; the second copies them)

    item.refresh_from_db()
    repair.refresh_from_db()
    assert repair.state == "completed", repair.last_error
    assert item.item_state == ItemState.READY
    assert item.last_verified_at is not None and item.last_verified_at >= before
    assert disk.path(item.uri).read_bytes() == DATA
    assert check_now(item).state == CheckState.PASSED


def test_file_rewritten_with_another_size_is_found_by_its_size_and_repaired(disk, spare):
    item, good = two_copies(disk, spare)
    disk.path(item.uri).write_bytes(DATA[:-7])  # shorter: the size tells, whatever its hash

    check = check_now(item)

    assert check.state == CheckState.CORRUPTED
    assert f"holds {len(DATA) - 7} bytes, the catalogue records {len(DATA)}" in check.detail
    assert check.hash_type == "" and check.bytes_checked == 0  # judged by its size alone
    repair = Migration.objects.get(pk=check.repair_migration_id)
    assert (repair.origin, repair.source_uid, repair.destination_uid) == (JobOrigin.REPAIR, good.uid, item.uid)
    assert DataItem.objects.get(uid=item.uid).item_state == ItemState.INITIALISED

    run_jobs()

    assert Migration.objects.get(pk=repair.pk).state == "completed"
    assert DataItem.objects.get(uid=item.uid).item_state == ItemState.READY
    assert disk.path(item.uri).read_bytes() == DATA
    assert check_now(item).state == CheckState.PASSED


def test_file_deleted_behind_dlms_back_is_lost_and_repaired(disk, spare):
    item, good = two_copies(disk, spare)
    disk.path(item.uri).unlink()

    check = check_now(item)

    assert check.state == CheckState.LOST
    assert check.repair_migration_id is not None
    run_jobs()
    item.refresh_from_db()
    assert item.item_state == ItemState.READY
    assert disk.path(item.uri).read_bytes() == DATA


def test_no_good_copy_flags_the_copy_and_deletes_nothing(disk):
    item = disk.register("only.bin", DATA)
    disk.flip_byte("only.bin", at=3)

    check = check_now(item)

    assert check.state == CheckState.CORRUPTED
    assert check.repair_migration_id is None
    assert "No READY copy" in check.detail
    item.refresh_from_db()
    assert item.item_state == ItemState.CORRUPTED
    assert item.oid_phase == "PLASMA"  # no READY copy left: the object's phase says so
    assert disk.path("only.bin").exists()
    assert not Migration.objects.filter(oid=item.oid).exists()


def test_unreadable_storage_leaves_the_copy_unjudged(tmp_path):
    disk = local_disk(tmp_path / "unmounted")
    item = disk.register("c.bin", DATA)
    os.rename(tmp_path / "unmounted", tmp_path / "elsewhere")  # the disk is gone, not the file

    check = check_now(item)

    assert check.state == CheckState.ERROR, check.detail
    item.refresh_from_db()
    assert item.item_state == ItemState.READY
    assert item.last_verified_at is None


def test_copy_no_longer_ready_is_not_checked(tmp_path):
    disk = local_disk(tmp_path / "d")
    item = disk.register("d.bin", DATA)
    check = fixity_check_create(uid=item.uid, user="tester")
    DataItem.objects.filter(uid=item.uid).update(item_state=ItemState.EXPIRED)
    assert fixity_check_run(check.check_id) == CheckState.CANCELLED
    assert fixity_check_run(check.check_id) == CheckState.CANCELLED  # a second delivery changes nothing


def test_container_size_and_file_count(tmp_path):
    disk = local_disk(tmp_path / "t")
    for name in ("x/1.dat", "x/2.dat"):
        disk.path(name).parent.mkdir(parents=True, exist_ok=True)
        disk.path(name).write_bytes(DATA)
    item = data_item_register(
        owner="tester", item_name="x", uri="x", storage_id=disk.storage.storage_id, item_type="container"
    )
    assert check_now(item).state == CheckState.PASSED
    disk.path("x/3.dat").write_bytes(b"")
    check = check_now(item)
    assert check.state == CheckState.CORRUPTED
    assert "3 files" in check.detail


# --- pace -------------------------------------------------------------------------------------


def test_checks_per_second_limit_holds(tmp_path, settings):
    settings.DLM_FIXITY_CHECKS_PER_SECOND = 2.0
    disk = local_disk(tmp_path / "p")
    checks = [fixity_check_create(uid=disk.register(f"f{n}.bin", DATA).uid, user="t") for n in range(6)]
    began = time.monotonic()
    for check in checks:
        assert fixity_check_run(check.check_id) == CheckState.PASSED
    elapsed = time.monotonic() - began
    assert elapsed >= 2.4, elapsed  # 6 starts, 0.5 s apart


def test_bytes_per_second_limit_paces_large_copies(tmp_path, settings):
    settings.DLM_FIXITY_BYTES_PER_SECOND = len(DATA) * 2  # a copy takes half a second of the clock
    disk = local_disk(tmp_path / "b")
    checks = [fixity_check_create(uid=disk.register(f"g{n}.bin", DATA).uid, user="t") for n in range(4)]
    began = time.monotonic()
    for check in checks:
        fixity_check_run(check.check_id)
    assert time.monotonic() - began >= 1.4


def test_check_far_from_its_turn_is_queued_again_for_then(tmp_path):
    disk = local_disk(tmp_path / "q")
    item = disk.register("h.bin", DATA)
    later = timezone.now() + timedelta(minutes=5)
    FixityClock.objects.create(storage=disk.storage, next_at=later)
    check = fixity_check_create(uid=item.uid, user="t")

    assert fixity_check_run(check.check_id) == CheckState.QUEUED

    check.refresh_from_db()
    assert check.state == CheckState.QUEUED
    again = Schedule.objects.get(name=f"fixity-{check.check_id}-at")
    assert (again.func, again.args) == (FIXITY_TASK, f"({check.check_id},)")
    assert abs((again.next_run - later).total_seconds()) < 1
    assert FixityClock.objects.get(storage=disk.storage).next_at == later  # nothing reserved


# --- the schedule -----------------------------------------------------------------------------


def test_schedule_queues_its_share_of_the_oldest_verified(tmp_path, settings):
    settings.DLM_FIXITY_PERIOD = 1000
    settings.DLM_FIXITY_INTERVAL = 300
    disk = local_disk(tmp_path / "s")
    now = timezone.now()
    ages = {"never": None, "old": 2000, "older": 3000, "mid": 900, "recent": 100}
    items = {}
    for name, age in ages.items():
        items[name] = disk.register(f"{name}.bin", DATA)
        verified = None if age is None else now - timedelta(seconds=age)
        DataItem.objects.filter(uid=items[name].uid).update(last_verified_at=verified)
    busy = fixity_check_create(uid=items["never"].uid, user="t")  # already queued: skipped
    tasks_before = OrmQ.objects.count()

    result = fixity_schedule()

    share = math.ceil(5 * 300 / 1000)
    assert result["share"] == share == 2
    queued = FixityCheck.objects.filter(pk__in=result["queued"])
    assert {check.item_id for check in queued} == {items["older"].uid, items["old"].uid}
    assert {check.origin for check in queued} == {CheckOrigin.SCHEDULE}
    assert OrmQ.objects.count() - tasks_before == 2
    assert FixityCheck.objects.filter(item_id=items["never"].uid).get() == busy

    second = fixity_schedule()  # those two are queued now: the next oldest due
    assert {FixityCheck.objects.get(pk=pk).item_id for pk in second["queued"]} == {items["mid"].uid}
    assert not FixityCheck.objects.filter(item_id=items["recent"].uid).exists()  # verified a moment ago


def test_schedule_ends_a_check_whose_worker_died(tmp_path):
    item = local_disk(tmp_path / "w").register("w.bin", DATA)
    check = fixity_check_create(uid=item.uid, user="t")
    FixityCheck.objects.filter(pk=check.pk).update(
        state=CheckState.RUNNING, started_at=timezone.now() - timedelta(hours=2)
    )
    assert fixity_schedule()["stale"] == 1
    check.refresh_from_db()
    assert check.state == CheckState.ERROR and "stopped" in check.detail
    assert DataItem.objects.get(uid=item.uid).item_state == ItemState.READY


# --- on a real worker -------------------------------------------------------------------------

WORKER_SETUP = r"""
import json, sys
from pathlib import Path
import django
django.setup()
from django.db import transaction
from catalogue.services import storage_config_create
from catalogue.services.ingest import data_item_register
from integrity.fixity import fixity_check_create
from tests.factories import make_item, make_storage

root = Path(sys.argv[1])
stores = {}
for name in ("a", "b"):
    storage = make_storage(storage_name=name, root_directory="data")
    config = {"name": name, "type": "local", "root_path": str(root / name)}
    storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
    stores[name] = storage
item = data_item_register(owner="t", item_name="vis", uri="vis.bin", storage_id=stores["a"].storage_id)
make_item(stores["b"], item_name="vis", uri="vis.bin", oid=item.uid, item_state="READY", item_size=item.item_size,
          item_checksum=item.item_checksum, checksum_method=item.checksum_method, hashes=item.hashes)
path = root / "a" / "data" / "vis.bin"
path.write_bytes(b"X" + path.read_bytes()[1:])
with transaction.atomic():
    check = fixity_check_create(uid=item.uid, user="t")
print(json.dumps({"check": check.check_id, "uid": item.uid.hex}))
"""


def test_a_worker_runs_the_check_and_the_repair(tmp_path):
    """On ``manage.py qcluster`` with a committed SQLite database: the check queued by a client is
    run from the queue, finds the damage, and the repair job it queues restores the bytes."""
    env = _env(tmp_path)
    for name in ("a", "b"):
        (tmp_path / name / "data").mkdir(parents=True)
        (tmp_path / name / "data" / "vis.bin").write_bytes(DATA)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    setup = subprocess.run(
        [sys.executable, "-c", WORKER_SETUP, str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True
    )  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    ids = json.loads(setup.stdout.strip().splitlines()[-1])
    db = tmp_path / "var" / "dlm.sqlite3"
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:

        def repaired():
            row = _row(db, "SELECT item_state, last_verified_at FROM data_item WHERE uid = ?", ids["uid"])
            return row if row and row[0] == "READY" and row[1] else None

        check = _wait_for(
            lambda: _row(db, "SELECT state, repair_migration_id FROM fixity_check WHERE check_id = ? AND "
                         "finished_at IS NOT NULL", ids["check"]), 60,
        )  # fmt: skip
        assert check[0] == "corrupted" and check[1], check
        assert _wait_for(repaired, 60)
        assert _row(db, "SELECT state, origin FROM migration WHERE migration_id = ?", check[1]) == (
            "completed",
            "repair",
        )
        assert (tmp_path / "a" / "data" / "vis.bin").read_bytes() == DATA
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            log.close()

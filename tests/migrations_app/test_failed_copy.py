"""A failed copy as upstream's clients see it: the destination row removed with the failure, a
permanent rclone error failing the job at once, ``job_status.finished`` true only at the end,
and a retry making a fresh destination copy. The runner's task body in this process, real rclone
on local directories."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from audit.models import AuditRecord
from catalogue.choices import ItemState
from catalogue.models import DataItem, Storage
from catalogue.services import storage_config_create
from migrations_app import runner
from migrations_app.models import Migration
from migrations_app.services import copy_job_create, copy_job_retry
from migrations_app.states import JobState
from tests.factories import make_item, make_storage

pytestmark = pytest.mark.django_db

DATA = b"license content"


@pytest.fixture(autouse=True)
def _quick_retries(settings):
    settings.DLM_COPY_RETRY_DELAY = 0
    settings.DLM_COPY_MAX_ATTEMPTS = 3


def _disk(root: Path, name: str) -> Storage:
    root.mkdir(parents=True, exist_ok=True)
    storage = make_storage(storage_name=name, root_directory="/")
    config = {"name": name, "type": "local", "root_path": str(root)}
    storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
    return storage


@pytest.fixture
def disks(tmp_path) -> tuple[Storage, Storage, Path, Path]:
    src_root, dst_root = tmp_path / "local", tmp_path / "archive"
    src, dst = _disk(src_root, "local"), _disk(dst_root, "dlm-archive")
    (src_root / "dlm/MyDisk").mkdir(parents=True)
    (src_root / "dlm/MyDisk/testfile").write_bytes(DATA)
    (dst_root / "root").write_text("a file where the copy wants a directory")
    return src, dst, src_root, dst_root


@pytest.fixture
def source(disks) -> DataItem:
    src = disks[0]
    return make_item(
        src, item_name="/my/ingest/test/item2", uri="/dlm/MyDisk/testfile", item_state=ItemState.READY,
        item_size=len(DATA), item_checksum=hashlib.md5(DATA).hexdigest(), checksum_method="md5",
    )  # fmt: skip


def _copy(source: DataItem, path: str) -> Migration:
    return copy_job_create(user="alice", uid=source.uid, destination_name="dlm-archive", path=path)


def test_a_permanent_error_fails_at_once_and_removes_the_destination_copy(disks, source):
    migration = _copy(source, "/root/testfile_copy")
    destination_uid = migration.destination_uid
    assert DataItem.objects.get(uid=destination_uid).item_state == ItemState.INITIALISED

    assert runner.copy_job_run(migration.pk) == JobState.FAILED

    migration.refresh_from_db()
    assert migration.attempts == 1  # no retries, no backoff
    assert migration.next_attempt_at is None
    assert "not a directory" in migration.last_error
    assert migration.complete is True and migration.completion_date is not None
    assert migration.job_status["finished"] is True and migration.job_status["success"] is False
    assert migration.job_status["error"] == migration.last_error
    assert not DataItem.objects.filter(uid=destination_uid).exists()
    assert (migration.destination_uid, migration.source_uid) == (destination_uid, source.uid)  # kept on the job
    assert DataItem.objects.get(uid=source.uid).item_state == ItemState.READY
    # The trail: the job failing and its destination copy removed, by DLM's worker.
    removal = AuditRecord.objects.get(object_type="data_item", object_id=str(destination_uid), action="delete")
    assert (removal.via, removal.auth, removal.username, removal.operation) == (
        "worker", "system", "alice", "copy_job_failed"
    )  # fmt: skip
    assert removal.changes["item_state"] == "INITIALISED" and removal.changes["uri"] == "/root/testfile_copy"
    failing = AuditRecord.objects.get(object_type="migration", object_id=str(migration.pk), action="update")
    assert failing.changes["state"] == ["running", "failed"]
    assert failing.request_id == removal.request_id  # one change


def test_a_transient_error_is_retried_and_finished_stays_false_meanwhile(disks, source):
    (disks[2] / "dlm/MyDisk/testfile").unlink()  # gone for now: rclone's "not found" may pass
    migration = _copy(source, "/dlm/MyDisk2/testfile_copy")

    assert runner.copy_job_run(migration.pk) == JobState.QUEUED

    migration.refresh_from_db()
    assert migration.attempts == 1 and migration.next_attempt_at is not None
    assert migration.job_status["finished"] is False and "not found" in migration.job_status["error"]
    assert migration.complete is False
    assert DataItem.objects.get(uid=migration.destination_uid).item_state == ItemState.INITIALISED

    (disks[2] / "dlm/MyDisk/testfile").write_bytes(DATA)  # back: the next attempt copies it
    assert runner.copy_job_run(migration.pk) == JobState.COMPLETED
    migration.refresh_from_db()
    assert migration.attempts == 2 and migration.job_status["finished"] is True and migration.job_status["success"]
    assert DataItem.objects.get(uid=migration.destination_uid).item_state == ItemState.READY


@pytest.mark.parametrize("size", [len(DATA), 2_000_000], ids=["small file", "rclone job"])
def test_finished_is_false_until_the_copy_is_verified(disks, source, monkeypatch, size):
    """A client polling ``get_migration`` until ``finished`` sees the destination's final state."""
    data = b"v" * size
    (disks[2] / "dlm/MyDisk/testfile").write_bytes(data)
    DataItem.objects.filter(uid=source.uid).update(item_size=size, item_checksum=hashlib.md5(data).hexdigest())
    migration = _copy(source, "/copies/testfile")
    seen = []
    monkeypatch.setattr(runner, "after_copy", lambda attempt: seen.append(Migration.objects.get(pk=migration.pk)))

    assert runner.copy_job_run(migration.pk) == JobState.COMPLETED

    (during,) = seen
    assert during.state == JobState.VERIFYING
    assert during.job_status["finished"] is False and during.complete is False
    migration.refresh_from_db()
    assert migration.job_status["finished"] is True and migration.job_status["success"] is True
    assert DataItem.objects.get(uid=migration.destination_uid).item_state == ItemState.READY
    assert (disks[3] / "copies/testfile").read_bytes() == data


def test_the_last_failed_attempt_removes_the_copy_in_the_failing_transaction(disks, source, settings):
    settings.DLM_COPY_MAX_ATTEMPTS = 2
    (disks[2] / "dlm/MyDisk/testfile").unlink()
    migration = _copy(source, "/dlm/MyDisk2/testfile_copy")

    assert runner.copy_job_run(migration.pk) == JobState.QUEUED
    assert DataItem.objects.filter(uid=migration.destination_uid).exists()
    assert runner.copy_job_run(migration.pk) == JobState.FAILED

    migration.refresh_from_db()
    assert migration.attempts == 2 and migration.job_status["finished"] is True
    assert not DataItem.objects.filter(uid=migration.destination_uid).exists()


def test_a_destination_copy_something_refers_to_is_kept_corrupted(disks, source):
    migration = _copy(source, "/root/testfile_copy")
    child = make_item(disks[1], item_name="child", uri="child", parents=migration.destination_uid)

    assert runner.copy_job_run(migration.pk) == JobState.FAILED

    assert DataItem.objects.get(uid=migration.destination_uid).item_state == ItemState.CORRUPTED
    assert DataItem.objects.get(uid=child.uid).parents == migration.destination_uid  # never dangles


def test_retry_after_a_failure_makes_a_fresh_destination_copy_that_completes(disks, source):
    migration = _copy(source, "/root/testfile_copy")
    assert runner.copy_job_run(migration.pk) == JobState.FAILED
    first_uid = migration.destination_uid
    (disks[3] / "root").unlink()  # the operator mends the destination

    retried = copy_job_retry(migration_id=migration.pk)

    assert retried.destination_uid != first_uid
    fresh = DataItem.objects.get(uid=retried.destination_uid)
    assert (fresh.item_state, fresh.uri, fresh.oid) == (ItemState.INITIALISED, "/root/testfile_copy", source.oid)
    assert retried.job_status is None and retried.complete is False and retried.attempts == 0
    assert runner.copy_job_run(migration.pk) == JobState.COMPLETED
    fresh.refresh_from_db()
    assert fresh.item_state == ItemState.READY
    assert (disks[3] / "root/testfile_copy").read_bytes() == DATA
    assert DataItem.objects.filter(oid=source.oid).count() == 2  # the source and the one copy


def test_a_new_copy_may_follow_a_failed_one(disks, source):
    """Upstream's clients copy again after a failure: nothing of the failed copy stands in the way."""
    failed = _copy(source, "/root/testfile_copy")
    assert runner.copy_job_run(failed.pk) == JobState.FAILED

    again = _copy(source, "/dlm/MyDisk2/testfile_copy")

    assert runner.copy_job_run(again.pk) == JobState.COMPLETED
    assert (disks[3] / "dlm/MyDisk2/testfile_copy").read_bytes() == DATA


# --- a container's destination may hold files that are not the copy's -------------------------


@pytest.fixture
def container(disks) -> DataItem:
    src, src_root = disks[0], disks[2]
    files = {"container/file1": b"Some data", "container/dir1/file2": b"More data"}
    for name, data in files.items():
        (src_root / name).parent.mkdir(parents=True, exist_ok=True)
        (src_root / name).write_bytes(data)
    return make_item(
        src, item_name="container", uri="/container/", item_type="container", item_state=ItemState.READY,
        item_size=sum(map(len, files.values())), metadata={"file_count": 2},
    )  # fmt: skip


def test_a_container_copied_beside_other_files_completes_and_leaves_them(disks, container):
    dst_root = disks[3]
    (dst_root / "shared").mkdir()
    (dst_root / "shared/someone-elses.dat").write_bytes(b"not DLM's")

    migration = _copy(container, "/shared/")

    assert runner.copy_job_run(migration.pk) == JobState.COMPLETED
    assert (dst_root / "shared/someone-elses.dat").read_bytes() == b"not DLM's"
    assert (dst_root / "shared/dir1/file2").read_bytes() == b"More data"


def test_a_bad_tree_copy_removes_only_its_bad_files(disks, container, monkeypatch):
    dst_root = disks[3]
    (dst_root / "shared").mkdir()
    (dst_root / "shared/someone-elses.dat").write_bytes(b"not DLM's")
    migration = _copy(container, "/shared/")

    def damage(attempt) -> None:
        (dst_root / "shared/file1").write_bytes(b"Some dat")  # a byte short

    monkeypatch.setattr(runner, "after_copy", damage)
    assert runner.copy_job_run(migration.pk) == JobState.QUEUED

    migration.refresh_from_db()
    assert "Verification failed" in migration.last_error and "file1" in migration.last_error
    assert not (dst_root / "shared/file1").exists()  # bad bytes gone, so the retry copies them again
    assert (dst_root / "shared/dir1/file2").read_bytes() == b"More data"  # good ones stay
    assert (dst_root / "shared/someone-elses.dat").read_bytes() == b"not DLM's"  # never ours to remove

    monkeypatch.setattr(runner, "after_copy", lambda attempt: None)
    assert runner.copy_job_run(migration.pk) == JobState.COMPLETED
    assert (dst_root / "shared/file1").read_bytes() == b"Some data"
    assert (dst_root / "shared/someone-elses.dat").read_bytes() == b"not DLM's"

"""Deleting a copy's bytes as a job: ``deletion_job_create`` and its refusals, the runner (its task
body run in this process) with a real rclone on local directories and on the S3 test server, its
retries, its recovery after a dead worker, its failures; and what deletions mean for copy jobs.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from audit.models import AuditRecord
from catalogue.choices import ItemState
from catalogue.models import DataItem, Storage, StorageConfig
from catalogue.phases import oid_phases_refresh
from catalogue.services import data_item_set, storage_config_create
from catalogue.services.registrations import FILE_COUNT_KEY
from core.errors import ObjectNotFound, UnmetPreconditionForOperation, ValueAlreadyInDB
from migrations_app import runner, selectors, tasks
from migrations_app.choices import JobOrigin
from migrations_app.jobs import DELETION_TASK
from migrations_app.models import Deletion, Migration
from migrations_app.runner import deleting
from migrations_app.services import (
    copy_job_create,
    copy_job_retry,
    deletion_job_cancel,
    deletion_job_create,
    deletion_job_retry,
)
from migrations_app.states import FINISHED, JobState
from tests.conftest import simultaneously
from tests.factories import job_callbacks, make_copy_job, make_item, make_storage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_retries(settings):
    settings.DLM_COPY_RETRY_DELAY = 0
    settings.DLM_COPY_MAX_ATTEMPTS = 3


# --- helpers --------------------------------------------------------------------------------------


def make_deletion(copy: DataItem, *, state: str = JobState.QUEUED, **fields: Any) -> Deletion:
    """A deletion's row as the services and the runner leave it in ``state`` (written directly:
    for states the services cannot be asked to make, such as a worker that died)."""
    now = timezone.now()
    values: dict[str, Any] = {
        "uid": copy.uid,
        "oid": copy.oid,
        "item_name": copy.item_name or "",
        "item_type": copy.item_type or "",
        "path": copy.uri or "",
        "storage_id": copy.storage_id,
        "state": state,
        "user": "alice",
    }
    if state in (JobState.RUNNING, JobState.VERIFYING):
        values.update(attempts=1, url="dead:1", started_at=now, heartbeat_at=now)
    if state in FINISHED:
        values.update(attempts=1, complete=True, finished_at=now)
    return Deletion.objects.create(**{**values, **fields})


class Place:
    """A storage with a real remote, and where its root directory is on this machine's disk."""

    def __init__(self, storage: Storage, disk: Path) -> None:
        self.storage = storage
        self.disk = disk  # the storage's root directory, seen from here

    def write(self, uri: str, data: bytes) -> Path:
        path = self.disk / uri
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


def _local(root: Path, phase: str = "GAS") -> Place:
    root.mkdir(parents=True, exist_ok=True)
    storage = make_storage(root_directory="data", storage_phase=phase)
    config = {"name": f"local-{storage.storage_name}", "type": "local", "root_path": str(root)}
    storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
    return Place(storage, root / "data")


def _s3(server, phase: str = "GAS") -> Place:
    storage = make_storage(
        root_directory="bucket1/dlm", storage_type="objectstore", storage_interface="s3", storage_phase=phase
    )
    storage_config_create(storage_id=storage.storage_id, config=dict(server.config), check_remote=False)
    return Place(storage, server.root / "bucket1" / "dlm")


@pytest.fixture(params=["local", "s3"])
def place(request, tmp_path) -> Place:
    """A LIQUID storage on a local directory, or on the S3 test server."""
    if request.param == "local":
        return _local(tmp_path / "disk", phase="LIQUID")
    return _s3(request.getfixturevalue("s3_server"), phase="LIQUID")


def _file(place: Place, uri: str, data: bytes, **fields: Any) -> DataItem:
    place.write(uri, data)
    values = {
        "uri": uri,
        "item_state": ItemState.READY,
        "item_size": len(data),
        "item_checksum": hashlib.md5(data).hexdigest(),
        "checksum_method": "md5",
        **fields,
    }
    return make_item(place.storage, **values)


def _tree(place: Place, uri: str) -> tuple[DataItem, list[DataItem], list[DataItem]]:
    """A container at ``uri`` with two children (one a container) and two grandchildren, all
    registered as items whose ``parents`` lead to it."""
    files = {"a.txt": b"a" * 10, "sub/b.txt": b"b" * 20, "sub/deep/c.txt": b"c" * 30}
    for name, data in files.items():
        place.write(f"{uri}/{name}", data)
    total = sum(len(data) for data in files.values())
    container = make_item(
        place.storage, uri=uri, item_type="container", item_state="READY", item_size=total,
        metadata={FILE_COUNT_KEY: len(files)},
    )  # fmt: skip
    children = [
        make_item(place.storage, uri=f"{uri}/a.txt", item_state="READY", parents=container.uid),
        make_item(place.storage, uri=f"{uri}/sub", item_type="container", item_state="READY", parents=container.uid),
    ]
    grandchildren = [
        make_item(place.storage, uri=f"{uri}/sub/b.txt", item_state="READY", parents=children[1].uid),
        make_item(place.storage, uri=f"{uri}/sub/deep/c.txt", item_state="READY", parents=children[1].uid),
    ]
    return container, children, grandchildren


def _ask(copy: DataItem, **kwargs: Any) -> Deletion:
    return deletion_job_create(uid=copy.uid, user=kwargs.pop("user", "alice"), **kwargs)


def _run_to_the_end(deletion: Deletion, limit: int = 10) -> Deletion:
    """Deliver the task until the deletion is finished (each retry is a new delivery)."""
    for _ in range(limit):
        runner.deletion_job_run(deletion.pk)
        deletion.refresh_from_db()
        if deletion.state in FINISHED:
            return deletion
    raise AssertionError(f"deletion still {deletion.state} after {limit} deliveries")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _state(item: DataItem) -> str:
    return DataItem.objects.values_list("item_state", flat=True).get(uid=item.uid)


# --- a file -------------------------------------------------------------------------------------


def test_a_file_is_removed_its_copy_deleted_and_the_objects_phase_recomputed(
    place, tmp_path, django_capture_on_commit_callbacks
):
    data = b"payload " * 1000
    copy = _file(place, "obs/one.bin", data)
    other = _local(tmp_path / "other", phase="GAS")
    kept = _file(other, "obs/one.bin", data, oid=copy.uid)
    oid_phases_refresh([copy.oid])
    assert DataItem.objects.get(uid=kept.uid).oid_phase == "LIQUID"  # LIQUID 2 + GAS 1: 3

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deletion = _ask(copy, reason="asked by operator")

    assert (deletion.state, deletion.attempts, deletion.complete) == (JobState.QUEUED, 0, False)
    assert (deletion.uid, deletion.oid, deletion.path) == (copy.uid, copy.oid, "obs/one.bin")
    assert deletion.storage_id == place.storage.storage_id and deletion.reason == "asked by operator"
    assert deletion.origin == JobOrigin.CLIENT and deletion.forced is False
    assert len(job_callbacks(callbacks)) == 1  # the task is handed over once the transaction commits
    assert _state(copy) == "READY"  # until the bytes are gone

    assert runner.deletion_job_run(deletion.pk) == JobState.COMPLETED

    deletion.refresh_from_db()
    assert not (place.disk / "obs" / "one.bin").exists()
    assert (other.disk / "obs" / "one.bin").read_bytes() == data  # the other copy's bytes untouched
    gone = DataItem.objects.get(uid=copy.uid)
    assert gone.item_state == "DELETED" and gone.deleted is True
    assert gone.uid_deletion == deletion.finished_at
    assert DataItem.objects.get(uid=kept.uid).oid_phase == "GAS"  # the GAS copy alone: 1
    assert deletion.complete and deletion.finished_at and deletion.last_error == ""
    assert (deletion.attempts, deletion.items_deleted) == (1, 1)
    assert deletion.url and deletion.started_at <= deletion.heartbeat_at
    assert runner.deletion_job_run(deletion.pk) == "not claimed"  # a second delivery does nothing

    # The trail names DLM's worker as the one that deleted, for the account that asked.
    records = AuditRecord.objects.filter(object_type="data_item", object_id=str(copy.uid), action="update")
    [record] = [record for record in records if "item_state" in record.changes]
    assert (record.via, record.auth, record.username, record.operation) == (
        "worker", "system", "alice", "deletion_job_completed"
    )  # fmt: skip
    assert record.changes["item_state"] == ["READY", "DELETED"]
    ended = AuditRecord.objects.get(object_type="deletion", object_id=str(deletion.pk), action="update")
    assert ended.changes["state"] == ["verifying", "completed"] and ended.request_id == record.request_id


def test_a_file_that_is_not_there_any_more_is_deleted_all_the_same(tmp_path):
    place = _local(tmp_path / "disk")
    copy = _file(place, "gone.bin", b"x")
    (place.disk / "gone.bin").unlink()

    deletion = _run_to_the_end(_ask(copy))

    assert (deletion.state, deletion.attempts, deletion.removal_started_at) == (JobState.COMPLETED, 1, None)
    assert _state(copy) == "DELETED"


# --- a container --------------------------------------------------------------------------------


def test_a_container_is_purged_and_every_item_inside_it_deleted(place):
    container, children, grandchildren = _tree(place, "obs/tree")
    beside = _file(place, "obs/tree-not.bin", b"neighbour")  # shares the prefix, not the directory

    deletion = _run_to_the_end(_ask(container))

    assert deletion.state == JobState.COMPLETED, deletion.last_error
    assert not (place.disk / "obs" / "tree").exists()
    assert (place.disk / "obs" / "tree-not.bin").read_bytes() == b"neighbour"
    assert deletion.items_deleted == 5 and deletion.job_id > 0  # a purge polled as an rclone job
    for item in (container, *children, *grandchildren):
        row = DataItem.objects.get(uid=item.uid)
        assert (row.item_state, row.deleted, row.uid_deletion) == ("DELETED", True, deletion.finished_at)
    assert _state(beside) == "READY"


# --- failures and retries -------------------------------------------------------------------------


def test_a_transient_failure_is_retried_then_succeeds(s3_server):
    data = b"stays a while"
    place = _s3(s3_server)
    copy = _file(place, "retry.bin", data)
    config = StorageConfig.objects.get(storage=place.storage)
    live = dict(config.config)
    config.config = {**live, "parameters": {**live["parameters"], "endpoint": f"http://127.0.0.1:{_closed_port()}"}}
    config.save()
    deletion = _ask(copy)

    assert runner.deletion_job_run(deletion.pk) == JobState.QUEUED

    deletion.refresh_from_db()
    assert deletion.attempts == 1 and deletion.next_attempt_at is not None and not deletion.complete
    assert "connection refused" in deletion.last_error.lower()
    assert s3_server.secret not in deletion.last_error
    assert (place.disk / "retry.bin").read_bytes() == data and _state(copy) == "READY"

    config.config = live  # the endpoint is back
    config.save()
    assert runner.deletion_job_run(deletion.pk) == JobState.COMPLETED
    deletion.refresh_from_db()
    assert deletion.attempts == 2 and deletion.last_error == "" and deletion.next_attempt_at is None
    assert not (place.disk / "retry.bin").exists() and _state(copy) == "DELETED"


def test_a_later_retry_is_a_once_schedule_of_the_deletion_task(settings, django_capture_on_commit_callbacks):
    settings.DLM_COPY_RETRY_DELAY = 30
    storage = make_storage(root_directory="bucket1", storage_type="objectstore", storage_interface="s3")
    config = {
        "name": "down",
        "type": "s3",
        "parameters": {"provider": "Rclone", "endpoint": f"http://127.0.0.1:{_closed_port()}"},
    }
    storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
    deletion = _ask(make_item(storage, uri="x.bin", item_state="READY"))

    with django_capture_on_commit_callbacks(execute=True):
        assert runner.deletion_job_run(deletion.pk) == JobState.QUEUED

    retry = Schedule.objects.get(name=f"deletion-{deletion.pk}-retry-1")
    assert retry.func == DELETION_TASK and retry.schedule_type == Schedule.ONCE
    assert retry.next_run >= timezone.now() + timedelta(seconds=20)
    assert Deletion.objects.get(pk=deletion.pk).next_attempt_at == retry.next_run


@pytest.mark.parametrize(("kind", "there"), [("file", "a directory"), ("container", "a file")])
def test_a_payload_of_the_wrong_kind_is_refused_and_nothing_removed(tmp_path, kind, there):
    place = _local(tmp_path / "disk")
    if there == "a directory":
        place.write("p/f", b"not the copy's")
    else:
        place.write("p", b"not the copy's")
    copy = make_item(place.storage, uri="p", item_type=kind, item_state="READY")

    deletion = _run_to_the_end(_ask(copy))

    assert deletion.state == JobState.FAILED and deletion.attempts == 1  # at once
    assert f"is {there}, not the" in deletion.last_error
    assert b"not the copy's" in b"".join(path.read_bytes() for path in place.disk.rglob("*") if path.is_file())
    assert deletion.removal_started_at is None and _state(copy) == "READY"  # nothing was touched


def test_a_permanent_failure_fails_at_once_without_the_secret_and_leaves_the_copy(s3_server, caplog):
    caplog.set_level(logging.DEBUG)
    place = _s3(s3_server)
    copy = _file(place, "keep.bin", b"keep me")
    wrong = "WRONG-" + uuid.uuid4().hex
    config = StorageConfig.objects.get(storage=place.storage)
    storage_config_create(
        storage_id=place.storage.storage_id,
        config={**s3_server.config, "parameters": {**s3_server.config["parameters"], "secret_access_key": wrong}},
        check_remote=False,
    )
    config.delete()  # the storage's first config is now the one with the wrong secret

    deletion = _run_to_the_end(_ask(copy))

    assert deletion.state == JobState.FAILED and deletion.attempts == 1  # no retries
    assert "SignatureDoesNotMatch" in deletion.last_error
    assert wrong not in deletion.last_error and wrong not in caplog.text
    assert deletion.complete and deletion.finished_at and deletion.removal_started_at is None
    assert (place.disk / "keep.bin").read_bytes() == b"keep me"
    assert _state(copy) == "READY"  # nothing was removed
    record = AuditRecord.objects.get(object_type="deletion", object_id=str(deletion.pk), action="update")
    assert (record.operation, record.via, record.auth) == ("deletion_job_failed", "worker", "system")
    assert record.changes["state"] == ["running", "failed"] and wrong not in str(record.changes)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_container_written_into_while_purged_fails_and_is_corrupted(
    backend, tmp_path, request, monkeypatch, settings
):
    settings.DLM_COPY_MAX_ATTEMPTS = 1
    place = _local(tmp_path / "disk") if backend == "local" else _s3(request.getfixturevalue("s3_server"))
    container, children, _ = _tree(place, "obs/busy")
    monkeypatch.setattr(deleting, "after_removal", lambda attempt: place.write("obs/busy/late.txt", b"late"))

    deletion = _run_to_the_end(_ask(container))

    assert deletion.state == JobState.FAILED
    assert "Verification failed" in deletion.last_error and "late.txt" in deletion.last_error
    assert _state(container) == "CORRUPTED"  # partly purged: not to be trusted
    assert {_state(child) for child in children} == {"CORRUPTED"}  # their bytes were under it
    assert (place.disk / "obs" / "busy" / "late.txt").read_bytes() == b"late"


def test_a_file_rewritten_whole_while_deleted_is_left_ready_when_the_deletion_fails(tmp_path, monkeypatch, settings):
    settings.DLM_COPY_MAX_ATTEMPTS = 1
    place = _local(tmp_path / "disk")
    copy = _file(place, "again.bin", b"same bytes")
    monkeypatch.setattr(deleting, "after_removal", lambda attempt: place.write("again.bin", b"same bytes"))

    deletion = _run_to_the_end(_ask(copy))

    assert deletion.state == JobState.FAILED and "is still there" in deletion.last_error
    assert _state(copy) == "READY"  # all its bytes are there


def test_a_file_cut_short_when_the_deletion_fails_is_corrupted(tmp_path, monkeypatch, settings):
    settings.DLM_COPY_MAX_ATTEMPTS = 1
    place = _local(tmp_path / "disk")
    copy = _file(place, "short.bin", b"all of the bytes")
    monkeypatch.setattr(deleting, "after_removal", lambda attempt: place.write("short.bin", b"some"))

    assert _run_to_the_end(_ask(copy)).state == JobState.FAILED
    assert _state(copy) == "CORRUPTED"


@pytest.mark.parametrize("uri", ["", "/"])
def test_a_copy_with_no_uri_never_removes_the_storages_root(tmp_path, uri):
    place = _local(tmp_path / "disk")
    place.write("precious.bin", b"not this copy's")
    copy = make_item(place.storage, uri=uri, item_type="container", item_state="READY")

    deletion = _run_to_the_end(_ask(copy))

    assert deletion.state == JobState.FAILED and deletion.attempts == 1
    assert "does not remove a storage's root directory" in deletion.last_error
    assert (place.disk / "precious.bin").read_bytes() == b"not this copy's"
    assert _state(copy) == "READY"


# --- a worker that died -------------------------------------------------------------------------


def test_recovery_requeues_dead_and_lost_deletions_and_the_next_attempt_finishes(tmp_path):
    place = _local(tmp_path / "disk")
    long_ago = timezone.now() - timedelta(minutes=10)
    rows = {}
    for name, fields in {
        "dead": {"state": JobState.RUNNING, "heartbeat_at": long_ago},
        "dead_after_removing": {"state": JobState.VERIFYING, "heartbeat_at": long_ago},
        "alive": {"state": JobState.RUNNING},
        "lost": {"state": JobState.QUEUED, "date": long_ago},
        "new": {"state": JobState.QUEUED},
        "done": {"state": JobState.COMPLETED, "heartbeat_at": long_ago},
    }.items():
        copy = _file(place, f"{name}.bin", b"bytes of " + name.encode())
        rows[name] = make_deletion(copy, **fields)
    (place.disk / "dead_after_removing.bin").unlink()  # its worker had removed the bytes already

    sent: list[int] = []
    requeued = runner.deletion_jobs_recover(enqueue=sent.append)
    expected = sorted(rows[name].pk for name in ("dead", "dead_after_removing", "lost"))
    assert sorted(requeued) == sorted(sent) == expected

    for name in ("dead", "dead_after_removing", "lost"):
        assert runner.deletion_job_run(rows[name].pk) == JobState.COMPLETED, name
        row = Deletion.objects.get(pk=rows[name].pk)
        assert row.attempts == (1 if name == "lost" else 2) and row.items_deleted == 1
        assert DataItem.objects.get(uid=row.uid).item_state == "DELETED"
        assert not (place.disk / f"{name}.bin").exists()
    assert runner.deletion_job_run(rows["alive"].pk) == "not claimed"  # its worker lives
    assert (place.disk / "alive.bin").exists()


def test_the_every_minute_recovery_task_requeues_deletions_too(tmp_path):
    place = _local(tmp_path / "disk")
    long_ago = timezone.now() - timedelta(minutes=10)
    dead = make_deletion(_file(place, "x.bin", b"x"), state=JobState.RUNNING, heartbeat_at=long_ago)

    found = tasks.copy_jobs_recover()

    assert found == {"copies": [], "deletions": [dead.pk]}
    queued = [task.task for task in OrmQ.objects.all()]
    assert any(task["func"] == DELETION_TASK and task["args"] == (dead.pk,) for task in queued), queued
    # A queued deletion whose task was lost is sent again, once: then its task is in the queue.
    lost = make_deletion(_file(place, "y.bin", b"y"), date=long_ago)
    assert lost.pk in runner.deletion_jobs_recover(enqueue=lambda pk: None)
    assert lost.pk in tasks.copy_jobs_recover()["deletions"]
    assert lost.pk not in runner.deletion_jobs_recover(enqueue=lambda pk: None)


# --- what deletion_job_create refuses ---------------------------------------------------------------


@pytest.fixture
def stores(db) -> tuple[Storage, Storage]:
    return make_storage(storage_name="src"), make_storage(storage_name="dst")


def _refused(exc_type, call, *fragments: str):
    with pytest.raises(exc_type) as caught:
        call()
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)
    assert caught.value.field == "uid"
    return caught.value


def test_an_unknown_uid_is_not_found(db):
    uid = uuid.uuid4()
    _refused(ObjectNotFound, lambda: deletion_job_create(uid=uid, user="alice"), f"No data item with uid={uid}")
    assert not Deletion.objects.exists()


def test_a_deleted_copy_is_refused(stores):
    copy = make_item(stores[0], item_state="DELETED")
    _refused(UnmetPreconditionForOperation, lambda: _ask(copy), "is DELETED already")
    assert not Deletion.objects.exists()


def test_a_copy_being_deleted_is_refused_naming_the_deletion(stores, django_capture_on_commit_callbacks):
    copy = make_item(stores[0], item_state="READY", uri="x")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = _ask(copy)
        _refused(ValueAlreadyInDB, lambda: _ask(copy), f"deletion {first.deletion_id} (queued)")
    assert Deletion.objects.count() == 1 and len(job_callbacks(callbacks)) == 1


@pytest.mark.parametrize("state", [JobState.QUEUED, JobState.RUNNING, JobState.VERIFYING])
def test_a_copy_being_written_by_a_copy_job_is_refused_naming_it(stores, state):
    source = make_item(stores[0], item_state="READY", uri="x")
    job = make_copy_job(source, stores[1], state=state)
    target = DataItem.objects.get(uid=job.destination_uid)
    _refused(UnmetPreconditionForOperation, lambda: _ask(target), f"Copy job {job.migration_id} ({state}) is writing")
    assert not Deletion.objects.exists()


def test_a_copy_being_read_by_a_copy_job_is_refused_naming_it(stores):
    source = make_item(stores[0], item_state="READY", uri="x")
    job = make_copy_job(source, stores[1], state=JobState.RUNNING)
    _refused(
        UnmetPreconditionForOperation, lambda: _ask(source), f"Copy job {job.migration_id} (running) is copying from"
    )


def test_a_container_whose_inner_item_is_being_copied_is_refused(stores):
    container = make_item(stores[0], item_state="READY", uri="tree", item_type="container")
    child = make_item(stores[0], item_state="READY", uri="tree/a", parents=container.uid)
    job = make_copy_job(child, stores[1])
    _refused(UnmetPreconditionForOperation, lambda: _ask(container), f"the item {child.uid} inside the copy")
    assert job.state == JobState.QUEUED


def test_a_finished_copy_job_does_not_hold_the_copy(stores):
    source = make_item(stores[0], item_state="READY", uri="x")
    make_copy_job(source, stores[1], state=JobState.COMPLETED)
    assert _ask(source).state == JobState.QUEUED


def test_a_copy_on_no_storage_is_deleted_at_once(db, django_capture_on_commit_callbacks):
    copy = make_item(None, item_state="READY", item_type="container")
    inside = make_item(None, item_state="READY", parents=copy.uid)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deletion = _ask(copy, origin=JobOrigin.LIFECYCLE, reason="uid expired", forced=True)

    assert (deletion.state, deletion.complete, deletion.storage_id) == (JobState.COMPLETED, True, None)
    assert deletion.items_deleted == 2 and deletion.finished_at is not None
    assert (deletion.origin, deletion.reason, deletion.forced) == ("lifecycle", "uid expired", True)
    assert {_state(copy), _state(inside)} == {"DELETED"}
    assert job_callbacks(callbacks) == []  # nothing for a worker to do


def test_asked_inside_the_callers_transaction_the_task_waits_for_its_commit(stores, django_capture_on_commit_callbacks):
    copy = make_item(stores[0], item_state="READY", uri="x")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            deletion = _ask(copy)
            assert job_callbacks(callbacks) == []
    assert len(job_callbacks(callbacks)) == 1 and deletion.state == JobState.QUEUED


def test_one_active_deletion_per_copy_is_a_database_constraint(stores):
    copy = make_item(stores[0], item_state="READY", uri="x")
    make_deletion(copy)
    make_deletion(copy, state=JobState.FAILED)  # ended ones do not count
    with pytest.raises(IntegrityError), transaction.atomic():
        make_deletion(copy, state=JobState.RUNNING)


# --- cancel and retry ---------------------------------------------------------------------------


def test_cancel_a_queued_deletion_and_its_task_then_does_nothing(tmp_path):
    place = _local(tmp_path / "disk")
    copy = _file(place, "c.bin", b"kept")
    deletion = _ask(copy)

    cancelled = deletion_job_cancel(deletion_id=deletion.pk)

    assert (cancelled.state, cancelled.complete) == (JobState.CANCELLED, True) and cancelled.finished_at
    assert runner.deletion_job_run(deletion.pk) == "not claimed"
    assert (place.disk / "c.bin").read_bytes() == b"kept" and _state(copy) == "READY"


@pytest.mark.parametrize("state", [JobState.RUNNING, JobState.VERIFYING])
def test_a_running_deletion_cannot_be_cancelled(stores, state):
    deletion = make_deletion(make_item(stores[0], item_state="READY", uri="x"), state=state)
    with pytest.raises(UnmetPreconditionForOperation, match="begun removing the copy's bytes") as caught:
        deletion_job_cancel(deletion_id=deletion.pk)
    assert caught.value.field == "deletion_id"
    assert Deletion.objects.get(pk=deletion.pk).state == state


def test_retry_queues_a_failed_deletion_from_its_first_attempt(stores, django_capture_on_commit_callbacks):
    copy = make_item(stores[0], item_state="READY", uri="x")
    failed = make_deletion(copy, state=JobState.FAILED, attempts=3, last_error="rclone: connection refused")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        retried = deletion_job_retry(deletion_id=failed.pk)

    assert (retried.state, retried.attempts, retried.complete, retried.finished_at) == (JobState.QUEUED, 0, False, None)
    assert retried.last_error == "rclone: connection refused"  # until the next attempt
    assert len(job_callbacks(callbacks)) == 1


def test_retry_is_refused_for_a_deleted_copy_or_while_another_deletion_runs(stores):
    copy = make_item(stores[0], item_state="READY", uri="x")
    cancelled = make_deletion(copy, state=JobState.CANCELLED)
    running = make_deletion(copy, state=JobState.RUNNING)
    with pytest.raises(ValueAlreadyInDB, match=f"deletion {running.pk} \\(running\\)"):
        deletion_job_retry(deletion_id=cancelled.pk)
    Deletion.objects.filter(pk=running.pk).update(state=JobState.COMPLETED)
    DataItem.objects.filter(uid=copy.uid).update(item_state="DELETED")
    with pytest.raises(UnmetPreconditionForOperation, match="DELETED already"):
        deletion_job_retry(deletion_id=cancelled.pk)
    with pytest.raises(UnmetPreconditionForOperation, match="only a failed or cancelled deletion"):
        deletion_job_retry(deletion_id=running.pk)
    with pytest.raises(ObjectNotFound):
        deletion_job_retry(deletion_id=10**9)
    assert Deletion.objects.get(pk=cancelled.pk).state == JobState.CANCELLED


# --- copies and deletions ---------------------------------------------------------------------------


def _configured(storage: Storage) -> Storage:
    StorageConfig.objects.create(storage=storage, config={"name": "d", "type": "local", "root_path": "/"}, secrets=[])
    return storage


@pytest.fixture
def configured(db) -> tuple[Storage, Storage, Storage]:
    return tuple(_configured(make_storage(storage_name=name)) for name in ("one", "two", "three"))


def test_a_copy_being_deleted_is_never_a_copy_source(configured):
    one, two, three = configured
    doomed = make_item(one, item_name="obj", uri="obj", item_state="READY")
    spare = make_item(two, item_name="obj", uri="obj", item_state="READY", oid=doomed.uid)
    deletion = _ask(doomed)

    with pytest.raises(UnmetPreconditionForOperation, match=f"deletion {deletion.pk}") as caught:
        copy_job_create(user="bob", uid=doomed.uid, destination_name="three")
    assert caught.value.field == "uid"

    # By oid or name, the copy being deleted is skipped: the other READY copy is read.
    by_oid = copy_job_create(user="bob", oid=doomed.oid, destination_name="three")
    assert by_oid.source_uid == spare.uid
    _forget(by_oid)
    by_name = copy_job_create(user="bob", item_name="obj", destination_name="three")
    assert by_name.source_uid == spare.uid


def _forget(job: Migration) -> None:
    """End a job and remove its destination copy, so that the object may be copied there again."""
    Migration.objects.filter(pk=job.pk).update(state=JobState.CANCELLED, complete=True)
    DataItem.objects.filter(uid=job.destination_uid).delete()


def test_when_every_ready_copy_is_being_deleted_none_is_a_source(configured):
    one, _, _ = configured
    doomed = make_item(one, item_name="obj", uri="obj", item_state="READY")
    _ask(doomed)
    with pytest.raises(UnmetPreconditionForOperation, match="Every READY copy of the data item with oid="):
        copy_job_create(user="bob", oid=doomed.oid, destination_name="two")
    assert not Migration.objects.exists()


def test_a_copy_job_retry_is_refused_while_its_source_is_being_deleted(configured):
    one, two, _ = configured
    source = make_item(one, uri="x", item_state="READY")
    job = make_copy_job(source, two, state=JobState.FAILED, copy={"item_state": "CORRUPTED"})
    deletion = _ask(source)  # a failed copy job does not hold its source
    with pytest.raises(UnmetPreconditionForOperation, match=f"deletion {deletion.pk}"):
        copy_job_retry(migration_id=job.pk)


def test_the_worker_refuses_a_copy_whose_source_got_a_deletion_since(tmp_path):
    src, dst = _local(tmp_path / "a"), _local(tmp_path / "b")
    source = _file(src, "s.bin", b"source bytes")
    job = make_copy_job(source, dst.storage)
    deletion = make_deletion(source)  # as if asked by a path that did not lock the source

    assert runner.copy_job_run(job.pk) == JobState.FAILED

    job.refresh_from_db()
    assert job.attempts == 1 and f"is being deleted (deletion {deletion.pk})" in job.last_error
    assert not (dst.disk / "s.bin").exists()


def test_the_worker_refuses_a_copy_whose_source_was_deleted_since(tmp_path):
    src, dst = _local(tmp_path / "a"), _local(tmp_path / "b")
    source = _file(src, "s.bin", b"source bytes")
    job = make_copy_job(source, dst.storage)
    DataItem.objects.filter(uid=source.uid).update(item_state="DELETED")

    assert runner.copy_job_run(job.pk) == JobState.FAILED
    assert "has been deleted" in Migration.objects.get(pk=job.pk).last_error


def test_set_state_is_refused_while_a_deletion_removes_the_copy(stores):
    copy = make_item(stores[0], item_state="READY", uri="x")
    deletion = _ask(copy)
    with pytest.raises(UnmetPreconditionForOperation, match=f"Deletion {deletion.pk} \\(queued\\) is removing"):
        data_item_set(uid=copy.uid, fields={"item_state": "CORRUPTED"})
    assert _state(copy) == "READY"
    deletion_job_cancel(deletion_id=deletion.pk)
    assert data_item_set(uid=copy.uid, fields={"item_state": "CORRUPTED"}).item_state == "CORRUPTED"


def test_a_completed_copy_refreshes_the_objects_phase(tmp_path):
    src, dst = _local(tmp_path / "a", phase="GAS"), _local(tmp_path / "b", phase="SOLID")
    source = _file(src, "p.bin", b"phase me" * 100)
    oid_phases_refresh([source.oid])
    assert DataItem.objects.get(uid=source.uid).oid_phase == "GAS"
    job = make_copy_job(source, dst.storage)

    assert runner.copy_job_run(job.pk) == JobState.COMPLETED

    assert set(DataItem.objects.filter(oid=source.oid).values_list("oid_phase", flat=True)) == {"SOLID"}


# --- lifecycle copies -----------------------------------------------------------------------------


def test_a_lifecycle_copy_carries_its_origin_reason_and_lifetime(configured):
    one, _, _ = configured
    source = make_item(one, uri="x", item_state="READY")
    until = timezone.now() + timedelta(days=400)

    job = copy_job_create(
        user="dlm", uid=source.uid, destination_name="two", origin=JobOrigin.LIFECYCLE,
        reason="rule keep-two", uid_expiration=until,
    )  # fmt: skip

    assert (job.origin, job.reason) == ("lifecycle", "rule keep-two")
    assert DataItem.objects.get(uid=job.destination_uid).uid_expiration == until
    assert DataItem.objects.get(uid=source.uid).uid_expiration != until


def test_a_second_pending_lifecycle_copy_of_an_object_is_refused_naming_the_first(configured):
    one, _, _ = configured
    source = make_item(one, uri="x", item_state="READY")
    first = copy_job_create(user="dlm", uid=source.uid, destination_name="two", origin=JobOrigin.LIFECYCLE)

    with pytest.raises(ValueAlreadyInDB, match=f"migration {first.pk} to storage two is queued"):
        copy_job_create(user="dlm", uid=source.uid, destination_name="three", origin=JobOrigin.LIFECYCLE)

    client = copy_job_create(user="bob", uid=source.uid, destination_name="three")  # a client's is not held
    assert Migration.objects.count() == 2 and client.origin == JobOrigin.CLIENT


def test_the_lifecycle_copy_constraint_is_in_the_database(configured):
    one, two, three = configured
    source = make_item(one, uri="x", item_state="READY")
    first = make_copy_job(source, two, origin=JobOrigin.LIFECYCLE)
    make_copy_job(source, three, origin=JobOrigin.LIFECYCLE, state=JobState.FAILED)  # ended: allowed
    with pytest.raises(IntegrityError), transaction.atomic():
        make_copy_job(source, three, origin=JobOrigin.LIFECYCLE, copy={"item_name": "other"})
    assert Migration.objects.filter(origin=JobOrigin.LIFECYCLE, state__in=["queued"]).get() == first


def test_a_lifecycle_copy_retried_while_another_is_pending_is_refused(configured):
    one, two, three = configured
    source = make_item(one, uri="x", item_state="READY")
    failed = make_copy_job(
        source, two, origin=JobOrigin.LIFECYCLE, state=JobState.FAILED, copy={"item_state": "CORRUPTED"}
    )
    pending = copy_job_create(user="dlm", uid=source.uid, destination_name="three", origin=JobOrigin.LIFECYCLE)
    with pytest.raises(ValueAlreadyInDB, match=f"migration {pending.pk}"):
        copy_job_retry(migration_id=failed.pk)


# --- selectors --------------------------------------------------------------------------------------


def test_the_selectors_name_the_copies_being_deleted(stores):
    copies = [make_item(stores[0], item_state="READY", uri=f"s{n}") for n in range(3)]
    make_deletion(copies[0])
    make_deletion(copies[1], state=JobState.FAILED)
    running = make_deletion(copies[2], state=JobState.RUNNING)

    assert selectors.uids_being_deleted([item.uid for item in copies]) == {copies[0].uid, copies[2].uid}
    assert [row.uid for row in selectors.deletions_of([copies[1].oid, copies[2].oid])] == [copies[1].uid, copies[2].uid]
    assert list(selectors.deletions_of([copies[2].oid], active=True)) == [running]


# --- races (PostgreSQL) ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_copy_and_a_deletion_of_the_same_source_asked_at_once_do_not_both_happen():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite's in-memory test database cannot hold concurrent writers; run on PostgreSQL")
    one = _configured(make_storage(storage_name="one"))
    _configured(make_storage(storage_name="two"))
    for round_ in range(4):  # a few rounds: the race is on
        source = make_item(one, item_name=f"race-{round_}", uri=f"race-{round_}", item_state="READY")
        calls = iter(["copy", "delete"])

        def one_of_each(source=source, calls=calls):
            kind = next(calls)
            try:
                if kind == "copy":
                    return kind, copy_job_create(user="bob", uid=source.uid, destination_name="two")
                return kind, deletion_job_create(uid=source.uid, user="alice")
            except (UnmetPreconditionForOperation, ValueAlreadyInDB) as exc:
                return kind, exc

        results = dict(simultaneously(one_of_each))
        done = [kind for kind, result in results.items() if not isinstance(result, Exception)]
        assert len(done) == 1, results
        copying = Migration.objects.filter(source_uid=source.uid, state="queued").exists()
        deleting = Deletion.objects.filter(uid=source.uid, state="queued").exists()
        assert copying != deleting

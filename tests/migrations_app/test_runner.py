"""The copy job runner, its task body run in this process, with a real rclone on local
directories and on the S3 and SFTP test servers."""

from __future__ import annotations

import hashlib
import logging
import socket
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from catalogue.choices import ItemState, ItemType
from catalogue.models import DataItem, Storage
from catalogue.services import storage_config_create
from catalogue.services.ingest import data_item_register
from migrations_app import runner, tasks
from migrations_app.jobs import COPY_TASK
from migrations_app.models import Migration
from migrations_app.runner import claim, copying, verify
from migrations_app.states import FINISHED, JobState
from tests.factories import make_copy_job, make_item, make_storage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_retries(settings):
    settings.DLM_COPY_RETRY_DELAY = 0
    settings.DLM_COPY_MAX_ATTEMPTS = 3


def _local_storage(root: Path, name: str = "") -> Storage:
    root.mkdir(parents=True, exist_ok=True)
    storage = make_storage(root_directory="data", **({"storage_name": name} if name else {}))
    config = {"name": f"local-{storage.storage_name}", "type": "local", "root_path": str(root)}
    storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
    return storage


def _remote_storage(config: dict[str, Any], root_directory: str) -> Storage:
    storage = make_storage(root_directory=root_directory, storage_type="objectstore", storage_interface="s3")
    storage_config_create(storage_id=storage.storage_id, config=dict(config), check_remote=False)
    return storage


def _write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.md5(data).hexdigest()


def _job(source: DataItem, destination: Storage, uri: str | None = None) -> tuple[Migration, DataItem]:
    """What the copy API writes: an INITIALISED destination copy and a queued job."""
    migration = make_copy_job(source, destination, copy={"uri": uri} if uri else None)
    return migration, DataItem.objects.get(uid=migration.destination_uid)


def _file_item(storage: Storage, uri: str, data: bytes, **fields: Any) -> DataItem:
    values = {
        "uri": uri,
        "item_state": ItemState.READY,
        "item_size": len(data),
        "item_checksum": hashlib.md5(data).hexdigest(),
        "checksum_method": "md5",
        **fields,
    }
    return make_item(storage, **values)


def _run_to_the_end(migration: Migration, limit: int = 10) -> Migration:
    """Deliver the task until the job is finished (each retry is a new delivery)."""
    for _ in range(limit):
        runner.copy_job_run(migration.pk)
        migration.refresh_from_db()
        if migration.state in FINISHED:
            return migration
    raise AssertionError(f"job still {migration.state} after {limit} deliveries")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_local_file_copy_is_verified_ready_with_progress(tmp_path):
    data = b"0123456789" * 100_000
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    md5 = _write(tmp_path / "a" / "data" / "obs" / "one.bin", data)
    source = _file_item(src, "obs/one.bin", data)
    migration, target = _job(source, dst)

    assert runner.copy_job_run(migration.pk) == JobState.COMPLETED

    migration.refresh_from_db()
    target.refresh_from_db()
    assert (tmp_path / "b" / "data" / "obs" / "one.bin").read_bytes() == data
    assert target.item_state == ItemState.READY and target.last_check is not None
    assert migration.complete and migration.completion_date and migration.finished_at
    assert migration.attempts == 1 and migration.last_error == ""
    assert migration.bytes_done == len(data) and migration.bytes_total == len(data)
    assert migration.job_id > 0 and migration.job_status["success"] is True
    assert migration.job_stats["bytes"] == len(data)
    assert migration.url and migration.started_at <= migration.heartbeat_at
    assert "operations/copyfile" in migration.command and "one.bin" in migration.command
    assert hashlib.md5((tmp_path / "b" / "data" / "obs" / "one.bin").read_bytes()).hexdigest() == md5
    assert DataItem.objects.filter(oid=source.oid).count() == 2


def test_sha256_recorded_at_registration_is_checked(tmp_path):
    data = b"sha" * 5000
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    _write(tmp_path / "a" / "data" / "f.bin", data)
    source = _file_item(src, "f.bin", data, item_checksum=hashlib.sha256(data).hexdigest(), checksum_method="sha256")
    migration, target = _job(source, dst)
    assert _run_to_the_end(migration).state == JobState.COMPLETED
    target.refresh_from_db()
    assert target.item_state == ItemState.READY


def test_local_to_s3_and_back(tmp_path, s3_server, caplog):
    caplog.set_level(logging.DEBUG)
    data = b"to the bucket " * 20_000
    src = _local_storage(tmp_path / "a")
    s3 = _remote_storage(s3_server.config, "bucket1/dlm")
    _write(tmp_path / "a" / "data" / "s3" / "obj.bin", data)
    source = _file_item(src, "s3/obj.bin", data)
    up, up_target = _job(source, s3)
    assert _run_to_the_end(up).state == JobState.COMPLETED
    assert (s3_server.root / "bucket1" / "dlm" / "s3" / "obj.bin").read_bytes() == data
    up_target.refresh_from_db()
    assert up_target.item_state == ItemState.READY

    # S3 → a third, local storage (the READY S3 copy is the source)
    up_target.item_size, up_target.item_checksum, up_target.checksum_method = len(data), source.item_checksum, "md5"
    up_target.save()
    back_store = _local_storage(tmp_path / "c")
    down, down_target = _job(up_target, back_store, uri="back/obj.bin")
    assert _run_to_the_end(down).state == JobState.COMPLETED
    assert (tmp_path / "c" / "data" / "back" / "obj.bin").read_bytes() == data
    for job in (up, down):
        job.refresh_from_db()
        seen = f"{job.command} {job.job_status} {job.job_stats} {job.last_error} {job.url}"
        assert s3_server.secret not in seen
    assert s3_server.secret not in caplog.text


def test_sftp_destination_without_hashes_is_verified_by_download(tmp_path, sftp_server):
    data = b"over ssh " * 3000
    src = _local_storage(tmp_path / "a")
    sftp = _remote_storage(sftp_server.config, "archive")
    _write(tmp_path / "a" / "data" / "x.bin", data)
    source = _file_item(src, "x.bin", data)
    migration, target = _job(source, sftp)
    assert _run_to_the_end(migration).state == JobState.COMPLETED
    assert (sftp_server.root / "archive" / "x.bin").read_bytes() == data
    target.refresh_from_db()
    assert target.item_state == ItemState.READY
    migration.refresh_from_db()
    assert sftp_server.secret not in f"{migration.command} {migration.job_status} {migration.job_stats}"


def test_container_tree_is_copied_and_verified(tmp_path):
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    files = {"ms/a.txt": b"alpha", "ms/sub/b.txt": b"beta" * 100, "ms/sub/deeper/c.bin": b"\0" * 4096}
    for name, data in files.items():
        _write(tmp_path / "a" / "data" / name, data)
    source = make_item(
        src,
        uri="ms",
        item_type=ItemType.CONTAINER,
        item_state=ItemState.READY,
        item_size=sum(len(d) for d in files.values()),
        metadata={"file_count": 3},
    )
    migration, target = _job(source, dst)
    assert _run_to_the_end(migration).state == JobState.COMPLETED
    for name, data in files.items():
        assert (tmp_path / "b" / "data" / name).read_bytes() == data
    target.refresh_from_db()
    assert target.item_state == ItemState.READY
    assert "sync/copy" in migration.command


def test_missing_source_fails_after_the_retries_with_the_reason(tmp_path):
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    source = _file_item(src, "gone.bin", b"never written")
    migration, target = _job(source, dst)

    runner.copy_job_run(migration.pk)
    migration.refresh_from_db()
    assert migration.state == JobState.QUEUED and migration.attempts == 1
    assert migration.next_attempt_at is not None and "not found" in migration.last_error

    migration = _run_to_the_end(migration)
    assert migration.state == JobState.FAILED and migration.attempts == 3
    assert "rclone copy failed" in migration.last_error and "not found" in migration.last_error
    assert migration.finished_at is not None and migration.complete  # ended: job_status says how
    assert migration.job_status["finished"] is True and migration.job_status["success"] is False
    assert not DataItem.objects.filter(uid=target.uid).exists()  # removed with the failure, as upstream
    assert migration.destination_uid == target.uid and migration.source_uid == source.uid
    assert runner.copy_job_run(migration.pk) == "not claimed"  # a late delivery changes nothing


def test_retries_wait_with_exponential_backoff(tmp_path, settings):
    settings.DLM_COPY_RETRY_DELAY = 30
    assert runner.retry_delay(1) == timedelta(seconds=30)
    assert runner.retry_delay(2) == timedelta(seconds=60)
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    source = _file_item(src, "gone.bin", b"x")
    migration, _ = _job(source, dst)
    runner.copy_job_run(migration.pk)
    migration.refresh_from_db()
    wait = migration.next_attempt_at - timezone.now()
    assert timedelta(seconds=25) < wait <= timedelta(seconds=30)
    assert runner.copy_job_run(migration.pk) == "not claimed"  # too early
    migration.refresh_from_db()
    assert migration.attempts == 1


def test_unreachable_destination_fails_with_rclones_reason_and_source_untouched(tmp_path, s3_server, settings):
    settings.DLM_COPY_MAX_ATTEMPTS = 1
    data = b"stay here" * 100
    src = _local_storage(tmp_path / "a")
    params = {**s3_server.config["parameters"], "endpoint": f"http://127.0.0.1:{_closed_port()}"}
    dead = _remote_storage({**s3_server.config, "parameters": params}, "bucket1")
    _write(tmp_path / "a" / "data" / "stay.bin", data)
    source = _file_item(src, "stay.bin", data)
    migration, target = _job(source, dead)
    migration = _run_to_the_end(migration)
    source.refresh_from_db()
    assert migration.state == JobState.FAILED
    assert "connection refused" in migration.last_error.lower()
    assert s3_server.secret not in f"{migration.last_error} {migration.job_status} {migration.job_stats}"
    assert not DataItem.objects.filter(uid=target.uid).exists()
    assert source.item_state == ItemState.READY
    assert (tmp_path / "a" / "data" / "stay.bin").read_bytes() == data


def _flip_first_byte(times: int | None):
    calls = []

    def corrupt(attempt) -> None:
        if times is None or len(calls) < times:
            path = Path(attempt.dst_config["root_path"]) / attempt.dst_path
            raw = bytearray(path.read_bytes())
            raw[0] ^= 0xFF
            path.write_bytes(bytes(raw))
        calls.append(attempt.token)

    return corrupt, calls


def test_a_small_file_is_copied_by_one_call_and_recorded_like_a_job(tmp_path):
    data = b"tiny" * 256
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    _write(tmp_path / "a" / "data" / "t.bin", data)
    source = _file_item(src, "t.bin", data)
    migration, target = _job(source, dst)

    assert runner.copy_job_run(migration.pk) == JobState.COMPLETED
    migration.refresh_from_db()
    target.refresh_from_db()
    assert (tmp_path / "b" / "data" / "t.bin").read_bytes() == data
    assert target.item_state == ItemState.READY and migration.complete
    assert migration.job_id == 0  # no rclone job: one call that returned when the file was there
    assert migration.job_status["finished"] is True and migration.job_status["success"] is True
    assert migration.job_stats["bytes"] == migration.job_stats["totalBytes"] == len(data)
    assert migration.bytes_done == migration.bytes_total == len(data)


def test_rclones_own_hash_check_is_skipped_only_where_dlm_reads_the_copy_back(tmp_path, monkeypatch, s3_server):
    """A local destination is verified by reading it back, so rclone's comparison would only hash
    the bytes again; S3 is verified from its stored md5, so rclone's comparison stays on."""
    seen: list[tuple[str, bool]] = []
    real_start, real_file = runner.rclone.copy_start, runner.rclone.copy_file

    def copy_start(*args, **kwargs):
        seen.append((args[2]["type"], kwargs["checksum"]))
        return real_start(*args, **kwargs)

    def copy_file(*args, **kwargs):
        seen.append((args[2]["type"], kwargs["checksum"]))
        return real_file(*args, **kwargs)

    monkeypatch.setattr(runner.rclone, "copy_start", copy_start)
    monkeypatch.setattr(runner.rclone, "copy_file", copy_file)
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    s3 = _remote_storage(s3_server.config, "bucket1")
    for name, size in (("small.bin", 1000), ("large.bin", copying.SMALL_FILE_LIMIT + 1)):
        data = bytes(range(256)) * (size // 256 + 1)
        _write(tmp_path / "a" / "data" / name, data[:size])
        source = _file_item(src, name, data[:size])
        for destination in (dst, s3):
            migration, _ = _job(source, destination)
            assert _run_to_the_end(migration).state == JobState.COMPLETED
    assert seen == [("local", False), ("s3", True), ("local", False), ("s3", True)]


def _registered(storage: Storage, uri: str) -> DataItem:
    """An item registered as the API does: rclone reads the bytes and records their hashes."""
    return data_item_register(owner="someone", item_name=uri, uri=uri, storage_id=storage.storage_id)


def test_a_large_copy_is_read_back_with_the_fast_hash_recorded_at_registration(tmp_path, monkeypatch, s3_server):
    monkeypatch.setattr(verify, "FOREGROUND_HASH_LIMIT", 1024)  # what counts as large, for the test
    read_back: list[str] = []
    real_hash_by_job = verify.hash_by_job

    def hash_by_job(attempt, config, path, hash_type, *, download):
        read_back.append(f"{config['type']}:{hash_type}")
        return real_hash_by_job(attempt, config, path, hash_type, download=download)

    monkeypatch.setattr(verify, "hash_by_job", hash_by_job)
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    s3 = _remote_storage(s3_server.config, "bucket1")
    _write(tmp_path / "a" / "data" / "big.bin", bytes(range(256)) * 2000)
    source = _registered(src, "big.bin")
    assert set(source.hashes) == {"md5", "xxh3"}

    to_local, local_copy = _job(source, dst)
    to_s3, s3_copy = _job(source, s3)
    assert _run_to_the_end(to_local).state == JobState.COMPLETED
    assert _run_to_the_end(to_s3).state == JobState.COMPLETED
    assert read_back == ["local:xxh3", "s3:md5"]  # S3 has no xxh3: its md5 is checked
    local_copy.refresh_from_db()
    assert local_copy.item_state == ItemState.READY


def test_a_flipped_byte_is_caught_by_the_fast_hash(tmp_path, monkeypatch):
    monkeypatch.setattr(verify, "FOREGROUND_HASH_LIMIT", 1024)
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    data = bytes(range(256)) * 2000
    _write(tmp_path / "a" / "data" / "big.bin", data)
    migration, target = _job(_registered(src, "big.bin"), dst)
    corrupt, calls = _flip_first_byte(times=1)
    monkeypatch.setattr(runner, "after_copy", corrupt)

    runner.copy_job_run(migration.pk)
    migration.refresh_from_db()
    assert migration.state == JobState.QUEUED and "Verification failed: xxh3" in migration.last_error
    assert _run_to_the_end(migration).state == JobState.COMPLETED and calls == [1, 2]
    assert (tmp_path / "b" / "data" / "big.bin").read_bytes() == data


@pytest.mark.parametrize("size", [14_000, copying.SMALL_FILE_LIMIT + 14_000], ids=["one-call", "job"])
def test_a_corrupted_destination_is_caught_and_copied_again(tmp_path, monkeypatch, size):
    data = (b"precious bytes" * (size // 14 + 1))[:size]
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    _write(tmp_path / "a" / "data" / "p.bin", data)
    source = _file_item(src, "p.bin", data)
    migration, target = _job(source, dst)
    corrupt, calls = _flip_first_byte(times=1)
    monkeypatch.setattr(runner, "after_copy", corrupt)

    runner.copy_job_run(migration.pk)
    migration.refresh_from_db()
    target.refresh_from_db()
    assert migration.state == JobState.QUEUED and "Verification failed: md5" in migration.last_error
    assert target.item_state == ItemState.INITIALISED

    migration = _run_to_the_end(migration)
    target.refresh_from_db()
    assert migration.state == JobState.COMPLETED and migration.attempts == 2 and calls == [1, 2]
    assert target.item_state == ItemState.READY
    assert (tmp_path / "b" / "data" / "p.bin").read_bytes() == data


def test_a_destination_corrupted_every_time_is_never_ready(tmp_path, monkeypatch, s3_server):
    data = b"unlucky" * 1000
    src = _local_storage(tmp_path / "a")
    s3 = _remote_storage(s3_server.config, "bucket1")
    _write(tmp_path / "a" / "data" / "u.bin", data)
    source = _file_item(src, "u.bin", data)
    migration, target = _job(source, s3)

    def corrupt(attempt) -> None:  # the S3 server's objects are files under its root
        path = s3_server.root / "bucket1" / "u.bin"
        path.write_bytes(b"X" + path.read_bytes()[1:])

    monkeypatch.setattr(runner, "after_copy", corrupt)
    migration = _run_to_the_end(migration)
    assert migration.state == JobState.FAILED and migration.attempts == 3
    assert "Verification failed" in migration.last_error
    assert not DataItem.objects.filter(uid=target.uid).exists()  # never READY: gone with the job


def test_cancel_requested_stops_the_copy_and_removes_the_partial_copy(tmp_path, monkeypatch):
    data = b"c" * 2_000_000
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    _write(tmp_path / "a" / "data" / "big.bin", data)
    source = _file_item(src, "big.bin", data)
    migration, target = _job(source, dst)
    real_wait = claim.wait

    def cancel_then_wait(attempt, job_id, group, *, progress):
        Migration.objects.filter(pk=attempt.migration.pk).update(cancel_requested=True)
        return real_wait(attempt, job_id, group, progress=progress)

    monkeypatch.setattr(claim, "wait", cancel_then_wait)
    # rclone would finish 2 MB locally before the first poll: slow it down for this copy
    from core import rclone

    rclone.DAEMON.call("core/bwlimit", {"rate": "200k"})
    try:
        assert runner.copy_job_run(migration.pk) == JobState.CANCELLED
    finally:
        rclone.DAEMON.call("core/bwlimit", {"rate": "off"})
    migration.refresh_from_db()
    target.refresh_from_db()
    assert migration.finished_at is not None and migration.complete
    assert migration.job_status["finished"] is True and migration.job_status["error"] == "Cancelled"
    assert target.item_state == ItemState.CORRUPTED  # a cancelled copy's row stays
    assert not (tmp_path / "b" / "data" / "big.bin").exists()
    assert not list((tmp_path / "b").rglob("*.partial"))


def test_a_second_delivery_while_running_does_nothing_and_a_rerun_makes_no_second_item(tmp_path):
    data = b"once" * 1000
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    _write(tmp_path / "a" / "data" / "o.bin", data)
    source = _file_item(src, "o.bin", data)
    migration, target = _job(source, dst)
    # Another worker holds it, with a fresh heartbeat.
    Migration.objects.filter(pk=migration.pk).update(
        state=JobState.RUNNING, attempts=1, heartbeat_at=timezone.now(), url="elsewhere:1"
    )
    assert runner.copy_job_run(migration.pk) == "not claimed"
    migration.refresh_from_db()
    assert migration.attempts == 1 and migration.url == "elsewhere:1"
    assert not (tmp_path / "b" / "data" / "o.bin").exists()

    # That worker died mid-copy (partial file left); once its heartbeat is stale, a re-run redoes it.
    (tmp_path / "b" / "data").mkdir(parents=True)
    (tmp_path / "b" / "data" / "o.bin").write_bytes(b"half")
    Migration.objects.filter(pk=migration.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert runner.copy_job_run(migration.pk) == JobState.COMPLETED
    assert runner.copy_job_run(migration.pk) == "not claimed"
    migration.refresh_from_db()
    assert migration.attempts == 2
    assert (tmp_path / "b" / "data" / "o.bin").read_bytes() == data
    assert DataItem.objects.filter(oid=source.oid, storage=dst).count() == 1
    assert DataItem.objects.get(oid=source.oid, storage=dst).uid == target.uid


def test_recovery_requeues_stale_and_lost_jobs_and_leaves_fresh_ones(tmp_path):
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    long_ago = timezone.now() - timedelta(minutes=10)
    jobs = {}
    for name, fields in {
        "stale": {"state": JobState.RUNNING, "heartbeat_at": long_ago},
        "stale_verifying": {"state": JobState.VERIFYING, "heartbeat_at": long_ago},
        "fresh": {"state": JobState.RUNNING, "heartbeat_at": timezone.now()},
        "lost": {"state": JobState.QUEUED, "date": long_ago},
        "new": {"state": JobState.QUEUED},
        "waiting": {"state": JobState.QUEUED, "date": long_ago, "next_attempt_at": timezone.now()},
        "done": {"state": JobState.COMPLETED, "heartbeat_at": long_ago},
    }.items():
        source = _file_item(src, f"{name}.bin", b"x", oid=uuid.uuid4())
        migration, _ = _job(source, dst)
        Migration.objects.filter(pk=migration.pk).update(**fields)
        jobs[name] = migration.pk
    sent: list[int] = []
    requeued = runner.copy_jobs_recover(enqueue=sent.append)
    assert sorted(requeued) == sorted(sent) == sorted([jobs["stale"], jobs["stale_verifying"], jobs["lost"]])

    # A queued job whose task is in the queue is not sent twice.
    from django_q.tasks import async_task

    async_task(COPY_TASK, jobs["lost"], task_name=f"copy-{jobs['lost']}")
    assert jobs["lost"] not in runner.copy_jobs_recover(enqueue=lambda pk: None)


def test_the_task_paths_stored_in_the_database_still_import():
    """Queued tasks and the recovery schedule name their function by its dotted path."""
    from django.utils.module_loading import import_string
    from django_q.models import Schedule

    recover = Schedule.objects.get(func="migrations_app.tasks.copy_jobs_recover").func
    assert import_string(COPY_TASK) is tasks.copy_job_run
    assert import_string(recover) is tasks.copy_jobs_recover


def test_the_recovery_schedule_exists_once():
    from django_q.models import Schedule

    schedules = Schedule.objects.filter(func="migrations_app.tasks.copy_jobs_recover")
    assert schedules.count() == 1
    assert schedules.get().schedule_type == Schedule.MINUTES and schedules.get().minutes == 1


def test_a_later_retry_is_a_once_schedule_at_the_retry_time(tmp_path, settings, django_capture_on_commit_callbacks):
    from django_q.models import Schedule

    settings.DLM_COPY_RETRY_DELAY = 30
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    migration, _ = _job(_file_item(src, "gone.bin", b"x"), dst)
    with django_capture_on_commit_callbacks(execute=True):
        runner.copy_job_run(migration.pk)
    migration.refresh_from_db()
    retry = Schedule.objects.get(func=COPY_TASK)
    assert retry.schedule_type == Schedule.ONCE and retry.repeats == -1
    assert retry.next_run == migration.next_attempt_at and retry.args == f"({migration.pk},)"


def test_verification_hashes_in_the_background_keeping_the_heartbeat(tmp_path, monkeypatch):
    """A long read of the destination must not leave the heartbeat stale (the recovery check would
    hand a job being verified to another worker): hashing is an rclone job polled like the copy."""
    data = b"abcdefghij" * 50_000
    src, dst = _local_storage(tmp_path / "a"), _local_storage(tmp_path / "b")
    _write(tmp_path / "a" / "data" / "v.bin", data)
    source = _file_item(src, "v.bin", data)
    migration, target = _job(source, dst)
    real_stat, beats = runner.rclone.stat, []

    def stat_without_hashing(config, path, *, hashes=("md5",)):
        assert not hashes, "a hash was computed in the foreground"
        return real_stat(config, path, hashes=hashes)

    real_wait = claim.wait

    def counting_wait(attempt, job_id, group, *, progress):
        began = timezone.now()
        status = real_wait(attempt, job_id, group, progress=progress)
        beats.append((group, began, Migration.objects.get(pk=migration.pk).heartbeat_at))
        return status

    monkeypatch.setattr(verify, "FOREGROUND_HASH_LIMIT", 1000)  # this file counts as large
    monkeypatch.setattr(runner.rclone, "stat", stat_without_hashing)
    monkeypatch.setattr(claim, "wait", counting_wait)
    assert runner.copy_job_run(migration.pk) == JobState.COMPLETED
    hash_waits = [(began, at) for group, began, at in beats if group.endswith("-hash")]
    assert hash_waits, "the verification's hash was not an rclone job"
    # Each wait for a hash job wrote the heartbeat while it polled: the row's heartbeat is no older
    # than the moment the wait began (the move to verifying wrote one before that, which would not do).
    assert all(at >= began for began, at in hash_waits), hash_waits
    target.refresh_from_db()
    assert target.item_state == ItemState.READY

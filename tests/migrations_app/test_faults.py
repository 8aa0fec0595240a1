"""Faults during a copy, on real ``manage.py qcluster`` processes against a committed SQLite database
of their own (as in ``test_worker``): the worker killed with ``kill -9``, its rclone daemon killed,
the destination's S3 server stopped. Copies are slowed with ``DLM_COPY_BWLIMIT`` so that the fault
lands mid-copy.

These tests are slow (each ~15-45 s): django-q2's scheduler, which fires the recovery check and
retry schedules, first runs 30 s after a cluster starts. They are marked ``slow`` and stay in the
default suite. Every wait polls the database against a deadline; every process is killed (its
whole process group) in ``finally``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.storage_servers import _free_port, _serve

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.own_database]

SETUP = r"""
import json, sys
import django
django.setup()
from django.db import transaction
from catalogue.services import storage_config_create
from migrations_app.jobs import copy_job_enqueue
from tests.factories import make_copy_job, make_item, make_storage

spec = json.loads(sys.argv[1])
stores = []
for name, config, root_directory in spec["stores"]:
    storage = make_storage(storage_name=name, root_directory=root_directory)
    storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
    stores.append(storage)
source = make_item(stores[0], item_name="big", uri="obs/big.bin", item_state="READY", item_size=spec["size"],
                   item_checksum=spec["md5"], checksum_method="md5")
with transaction.atomic():
    job = make_copy_job(source, stores[1])
    copy_job_enqueue(job.pk)
print(json.dumps({"migration": job.pk, "source": source.uid.hex, "target": job.destination_uid.hex,
                  "oid": source.oid.hex, "destination_storage": stores[1].storage_id.hex}))
"""  # noqa: E501


# --- helpers --------------------------------------------------------------------------------------


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLM_") and k != "DATABASE_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="dlm.settings",
        DLM_VAR_DIR=str(tmp_path / "var"),
        DLM_WORKERS="1",
        DLM_COPY_HEARTBEAT_LIMIT="5",  # the least allowed
        DLM_COPY_RETRY_DELAY="1",
        DLM_COPY_BWLIMIT="50M",  # 300 MB: ~6 s a copy
        PYTHONPATH=str(ROOT),
    )
    env.update(values)
    return env


def _big_file(path: Path, size: int) -> str:
    """A file of ``size`` random bytes; its md5."""
    path.parent.mkdir(parents=True, exist_ok=True)
    md5 = hashlib.md5()
    chunk = os.urandom(4 * 1024 * 1024)  # random enough: a copy cannot compress or deduplicate it
    with open(path, "wb") as out:
        for offset in range(0, size, len(chunk)):
            piece = (hashlib.sha256(offset.to_bytes(8, "big")).digest() + chunk)[: min(len(chunk), size - offset)]
            out.write(piece)
            md5.update(piece)
    return md5.hexdigest()


def _md5(path: Path) -> str:
    md5 = hashlib.md5()
    with open(path, "rb") as source:
        while block := source.read(8 * 1024 * 1024):
            md5.update(block)
    return md5.hexdigest()


def _prepare(env: dict[str, str], stores: list[tuple[str, dict[str, Any], str]], size: int, md5: str) -> dict:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    spec = json.dumps({"stores": stores, "size": size, "md5": md5})
    setup = subprocess.run([sys.executable, "-c", SETUP, spec], cwd=ROOT, env=env, capture_output=True, text=True)
    assert setup.returncode == 0, setup.stderr
    return json.loads(setup.stdout.strip().splitlines()[-1])


def _row(db: Path, sql: str, *args: Any) -> tuple | None:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=20)
    try:
        return connection.execute(sql, args).fetchone()
    finally:
        connection.close()


def _wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout:.0f} s: {what}")


JOB = "SELECT state, attempts, bytes_done, url, last_error, complete FROM migration WHERE migration_id = ?"


def _job(db: Path, migration_id: int) -> dict[str, Any]:
    row = _row(db, JOB, migration_id)
    assert row is not None
    return dict(zip(("state", "attempts", "bytes_done", "url", "last_error", "complete"), row, strict=True))


def _finished(db: Path, migration_id: int) -> dict[str, Any] | None:
    job = _job(db, migration_id)
    return job if job["state"] in ("completed", "failed", "cancelled") else None


def _copying(db: Path, migration_id: int, attempt: int, at_least: int) -> dict[str, Any] | None:
    job = _job(db, migration_id)
    ok = job["state"] == "running" and job["attempts"] == attempt and job["bytes_done"] >= at_least
    return job if ok else None


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(30)


@contextmanager
def _cluster(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A ``manage.py qcluster`` in a process group of its own, killed (the whole group) at the end."""
    with open(log, "a") as out:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield worker
        finally:
            _kill_group(worker)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _rclone_daemons_of(pid: int) -> list[int]:
    """The ``rclone rcd`` processes started by process ``pid``."""
    daemons = []
    for child in _children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"rclone") and b"rcd" in argv:
            daemons.append(child)
    return daemons


def _destination_items(db: Path, ids: dict) -> int:
    sql = "SELECT COUNT(*) FROM data_item WHERE oid = ? AND storage_id = ?"
    return _row(db, sql, ids["oid"], ids["destination_storage"])[0]


def _item_state(db: Path, uid: str) -> str | None:
    row = _row(db, "SELECT item_state FROM data_item WHERE uid = ?", uid)
    return row[0] if row else None


def _local_stores(tmp_path: Path) -> list[tuple[str, dict[str, Any], str]]:
    disks = tmp_path / "disks"
    return [
        (f"disk-{side}", {"name": f"disk-{side}", "type": "local", "root_path": str(disks / side)}, "data")
        for side in ("a", "b")
    ]


SIZE = 300_000_000


@pytest.fixture(autouse=True)
def _remove_big_files(tmp_path):
    """pytest keeps the last runs' temporary directories: not these hundreds of megabytes."""
    yield
    shutil.rmtree(tmp_path / "disks", ignore_errors=True)
    shutil.rmtree(tmp_path / "s3", ignore_errors=True)


# --- the tests ------------------------------------------------------------------------------------


def test_kill_9_of_the_worker_mid_copy_is_recovered_by_a_new_worker(tmp_path):
    env = _env(tmp_path)
    source = tmp_path / "disks" / "a" / "data" / "obs" / "big.bin"
    copy = tmp_path / "disks" / "b" / "data" / "obs" / "big.bin"
    md5 = _big_file(source, SIZE)
    ids = _prepare(env, _local_stores(tmp_path), SIZE, md5)
    db, pk = tmp_path / "var" / "dlm.sqlite3", ids["migration"]
    with _cluster(env, tmp_path / "worker-1.log") as first:
        job = _wait_for(lambda: _copying(db, pk, 1, 20_000_000), 30, "the first attempt copying")
        os.killpg(first.pid, signal.SIGKILL)  # the cluster, its worker, and the worker's rclone daemon
        first.wait(10)
    killed = _job(db, pk)
    assert killed["state"] == "running" and killed["bytes_done"] < SIZE  # killed mid-copy
    assert _item_state(db, ids["target"]) == "INITIALISED"
    # A new cluster's scheduler runs the recovery check on its first pass (30 s after its start): by
    # then the dead attempt's heartbeat is older than DLM_COPY_HEARTBEAT_LIMIT, and it is re-queued.
    with _cluster(env, tmp_path / "worker-2.log"):
        job = _wait_for(lambda: _finished(db, pk), 75, "the job finished after the restart")
    state = _item_state(db, ids["target"])
    if job["state"] == "completed":
        assert job["complete"] == 1 and job["attempts"] >= 2 and job["last_error"] == ""
        assert state == "READY"
        assert _md5(copy) == md5
    else:  # allowed: failed with a reason, the copy never READY
        assert job["state"] == "failed" and job["last_error"], job
        assert state != "READY"
    assert _destination_items(db, ids) == 1
    assert _md5(source) == md5


def test_the_rclone_daemon_killed_mid_copy_fails_the_attempt_and_the_retry_completes(tmp_path):
    size = 200_000_000
    env = _env(tmp_path, DLM_COPY_RETRY_DELAY="1")
    source = tmp_path / "disks" / "a" / "data" / "obs" / "big.bin"
    md5 = _big_file(source, size)
    ids = _prepare(env, _local_stores(tmp_path), size, md5)
    db, pk = tmp_path / "var" / "dlm.sqlite3", ids["migration"]
    with _cluster(env, tmp_path / "worker.log"):
        job = _wait_for(lambda: _copying(db, pk, 1, 10_000_000), 30, "the first attempt copying")
        worker_pid = int(job["url"].rsplit(":", 1)[1])
        daemons = _rclone_daemons_of(worker_pid)
        assert len(daemons) == 1, daemons
        os.kill(daemons[0], signal.SIGKILL)

        def failed_once():
            job = _job(db, pk)
            return job if job["attempts"] == 1 and job["state"] == "queued" and job["last_error"] else None

        failed = _wait_for(failed_once, 30, "the attempt failed and waiting for its retry")
        assert failed["last_error"] == "rclone stopped during the job: its daemon died (it has been restarted)"
        # The retry is a django-q2 ONCE schedule: it fires on the scheduler's first pass (30 s in).
        job = _wait_for(lambda: _finished(db, pk), 75, "the retry finished")
    assert (job["state"], job["complete"], job["attempts"], job["last_error"]) == ("completed", 1, 2, "")
    assert _item_state(db, ids["target"]) == "READY"
    assert _md5(tmp_path / "disks" / "b" / "data" / "obs" / "big.bin") == md5
    assert _destination_items(db, ids) == 1


def test_the_s3_destination_stopped_mid_copy_fails_the_job_and_leaves_the_source(tmp_path):
    size = 200_000_000
    # Retries at once (no 30 s wait for the scheduler), two attempts in all.
    env = _env(tmp_path, DLM_COPY_RETRY_DELAY="0", DLM_COPY_MAX_ATTEMPTS="2")
    source = tmp_path / "disks" / "a" / "data" / "obs" / "big.bin"
    md5 = _big_file(source, size)
    s3_root = tmp_path / "s3"
    (s3_root / "bucket1").mkdir(parents=True)
    port = _free_port()
    s3 = {
        "name": "acacia",
        "type": "s3",
        "parameters": {
            "provider": "Rclone",
            "endpoint": f"http://127.0.0.1:{port}",
            "access_key_id": "AKTEST",
            "secret_access_key": "SK-faults-secret",
        },
    }
    stores = [_local_stores(tmp_path)[0], ("acacia", s3, "bucket1")]
    ids = _prepare(env, stores, size, md5)
    db, pk = tmp_path / "var" / "dlm.sqlite3", ids["migration"]
    server = _serve(["s3", str(s3_root), "--auth-key", "AKTEST,SK-faults-secret"], port)
    try:
        with _cluster(env, tmp_path / "worker.log"):
            _wait_for(lambda: _copying(db, pk, 1, 10_000_000), 30, "the first attempt copying")
            server.kill()
            server.wait(10)
            job = _wait_for(lambda: _finished(db, pk), 40, "the job failed")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    assert job["state"] == "failed" and job["attempts"] == 2, job
    assert "connection refused" in job["last_error"], job["last_error"]
    assert "SK-faults-secret" not in job["last_error"]
    assert _item_state(db, ids["source"]) == "READY"
    assert _item_state(db, ids["target"]) is None  # removed with the failure
    assert _md5(source) == md5
    assert _destination_items(db, ids) == 0

"""Copy jobs on a real ``manage.py qcluster``, against a committed SQLite database of its own."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SETUP = r"""
import json, sys
from datetime import timedelta
import django
django.setup()
from django.db import transaction
from django.utils import timezone
from catalogue.services import storage_config_create
from migrations_app.jobs import copy_job_enqueue
from tests.factories import make_copy_job, make_item, make_storage

data_root, md5, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
stores = []
for side in ("a", "b"):
    storage = make_storage(storage_name=f"disk-{side}", root_directory="data")
    config = {"name": f"disk-{side}", "type": "local", "root_path": f"{data_root}/{side}"}
    storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
    stores.append(storage)
ids = {}
for name in ("queued", "orphaned"):
    source = make_item(stores[0], item_name=name, uri=f"obs/{name}.bin", item_state="READY", item_size=size,
                       item_checksum=md5, checksum_method="md5")
    with transaction.atomic():
        if name == "queued":
            job = make_copy_job(source, stores[1])
            copy_job_enqueue(job.pk)
        else:  # its worker died mid-copy long ago, and its task is gone
            long_ago = timezone.now() - timedelta(minutes=10)
            job = make_copy_job(source, stores[1], state="running", url="dead:1", started_at=long_ago,
                                heartbeat_at=long_ago)
    ids[name] = {"migration": job.pk, "uid": job.destination_uid.hex}
print(json.dumps(ids))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLM_") and k != "DATABASE_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="dlm.settings",
        DLM_VAR_DIR=str(tmp_path / "var"),
        DLM_COPY_HEARTBEAT_LIMIT="5",
        DLM_COPY_RETRY_DELAY="1",
        PYTHONPATH=str(ROOT),
    )
    return env


def _row(db: Path, sql: str, *args) -> tuple | None:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=20)
    try:
        return connection.execute(sql, args).fetchone()
    finally:
        connection.close()


def _wait_for(check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("condition not reached in time")


@pytest.mark.own_database
def test_a_worker_copies_a_queued_job_and_recovers_an_orphaned_one(tmp_path):
    env = _env(tmp_path)
    data = os.urandom(3_000_000)
    md5 = hashlib.md5(data).hexdigest()
    for name in ("queued", "orphaned"):
        path = tmp_path / "disks" / "a" / "data" / "obs" / f"{name}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    setup = subprocess.run(
        [sys.executable, "-c", SETUP, str(tmp_path / "disks"), md5, str(len(data))],
        cwd=ROOT, env=env, capture_output=True, text=True,
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

        def finished(name: str):
            row = _row(db, "SELECT state, complete, attempts, last_error FROM migration WHERE migration_id = ?",
                       ids[name]["migration"])  # fmt: skip
            return row if row and row[0] in ("completed", "failed", "cancelled") else None

        state, complete, attempts, last_error = _wait_for(lambda: finished("queued"), 60)
        assert (state, complete, attempts, last_error) == ("completed", 1, 1, "")
        # The orphan waits for the every-minute recovery check (the scheduler's first pass).
        state, complete, attempts, _ = _wait_for(lambda: finished("orphaned"), 120)
        assert (state, complete, attempts) == ("completed", 1, 2)
        for name in ("queued", "orphaned"):
            copy = tmp_path / "disks" / "b" / "data" / "obs" / f"{name}.bin"
            assert hashlib.md5(copy.read_bytes()).hexdigest() == md5
            item = _row(db, "SELECT item_state, last_check FROM data_item WHERE uid = ?", ids[name]["uid"])
            assert item[0] == "READY" and item[1] is not None
            count = _row(db, "SELECT COUNT(*) FROM data_item WHERE item_name = ?", name)[0]
            assert count == 2  # the source and one destination copy
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            log.close()

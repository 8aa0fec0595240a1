"""Deletions on a real ``manage.py qcluster``, against a committed SQLite database of its own (as
``test_worker`` does for copies): a queued deletion of a container done by the worker, and a
deletion whose worker died mid-way recovered by the every-minute check and finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.migrations_app.test_worker import ROOT, _env, _row, _wait_for

SETUP = r"""
import json, sys
from datetime import timedelta
import django
django.setup()
from django.db import transaction
from django.utils import timezone
from catalogue.services import storage_config_create
from migrations_app.services import deletion_job_create
from tests.factories import make_item, make_storage
from tests.migrations_app.test_deletions import make_deletion

data_root = sys.argv[1]
storage = make_storage(storage_name="disk", root_directory="data")
config = {"name": "disk", "type": "local", "root_path": data_root}
storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
tree = make_item(storage, item_name="tree", uri="obs/tree", item_type="container", item_state="READY")
inside = make_item(storage, item_name="tree/a.bin", uri="obs/tree/a.bin", item_state="READY", parents=tree.uid)
orphan = make_item(storage, item_name="orphan", uri="obs/orphan.bin", item_state="READY")
with transaction.atomic():
    queued = deletion_job_create(uid=tree.uid, user="alice", reason="asked by operator")
long_ago = timezone.now() - timedelta(minutes=10)
dead = make_deletion(orphan, state="running", heartbeat_at=long_ago, started_at=long_ago)
print(json.dumps({"queued": queued.pk, "dead": dead.pk, "tree": tree.uid.hex, "inside": inside.uid.hex,
                  "orphan": orphan.uid.hex}))
"""


@pytest.mark.own_database
def test_a_worker_deletes_a_queued_container_and_recovers_an_orphaned_deletion(tmp_path):
    env = _env(tmp_path)
    disk = tmp_path / "disk"
    for name in ("obs/tree/a.bin", "obs/tree/sub/b.bin", "obs/orphan.bin", "obs/kept.bin"):
        path = disk / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(1000))
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    setup = subprocess.run(
        [sys.executable, "-c", SETUP, str(disk)], cwd=ROOT, env=env, capture_output=True, text=True
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
            row = _row(db, "SELECT state, attempts, items_deleted, last_error FROM deletion WHERE deletion_id = ?",
                       ids[name])  # fmt: skip
            return row if row and row[0] in ("completed", "failed", "cancelled") else None

        assert _wait_for(lambda: finished("queued"), 60) == ("completed", 1, 2, "")
        # The orphan waits for the every-minute recovery check (the scheduler's first pass).
        assert _wait_for(lambda: finished("dead"), 120) == ("completed", 2, 1, "")
        assert not (disk / "data" / "obs" / "tree").exists()
        assert not (disk / "data" / "obs" / "orphan.bin").exists()
        assert (disk / "data" / "obs" / "kept.bin").exists()
        for uid in (ids["tree"], ids["inside"], ids["orphan"]):
            state, deleted = _row(db, "SELECT item_state, deleted FROM data_item WHERE uid = ?", uid)
            assert (state, deleted) == ("DELETED", 1)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            log.close()

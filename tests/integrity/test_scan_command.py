"""``manage.py scan_storage NAME [--resume SCAN_ID]``: a scan run in the command's own process,
its counts printed; a failed scan resumed; refusals as command errors."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django_q.models import OrmQ

from integrity.models import Scan, ScanState
from tests.integrity.test_scans import local_disk

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("scan_storage", *args, stdout=out)
    return out.getvalue()


def test_the_command_scans_and_prints_the_counts(tmp_path):
    disk = local_disk(tmp_path / "cmd")
    disk.register("a.bin", b"a")
    disk.write("stray.bin", b"s")

    out = run(disk.storage.storage_name)

    scan = Scan.objects.get(storage=disk.storage)
    assert scan.state == ScanState.COMPLETED
    assert f"scan {scan.pk} of {disk.storage.storage_name}" in out
    assert "completed: 2 listed, 1/1 copies found, 0 lost, 1 dark, 0 mismatched" in out
    assert not OrmQ.objects.exists()  # run here: no task left for a worker


def test_a_failed_scan_is_resumed(tmp_path):
    disk = local_disk(tmp_path / "resume")
    disk.register("a.bin", b"a")
    disk.root.rename(tmp_path / "aside")  # the root gone: the scan fails, judging nothing
    with pytest.raises(CommandError, match="failed"):
        run(disk.storage.storage_name)
    scan = Scan.objects.get(storage=disk.storage)
    assert scan.state == ScanState.FAILED and "not found" in scan.error
    (tmp_path / "aside").rename(disk.root)

    out = run(disk.storage.storage_name, "--resume", str(scan.pk))

    scan.refresh_from_db()
    assert (scan.state, scan.matched, scan.lost) == (ScanState.COMPLETED, 1, 0)
    assert "completed" in out


def test_the_command_refuses_what_it_cannot_scan(tmp_path):
    with pytest.raises(CommandError, match="nowhere"):
        run("nowhere")
    disk = local_disk(tmp_path / "done")
    disk.write("x", b"x")
    run(disk.storage.storage_name)
    done = Scan.objects.get(storage=disk.storage)
    with pytest.raises(CommandError, match="nothing to resume"):
        run(disk.storage.storage_name, "--resume", str(done.pk))

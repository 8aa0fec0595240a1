"""``copy-data-item --wait`` against a real copy (rclone through DLM's worker), and
``ingest register-dir`` with the bulk API."""

from __future__ import annotations

import os


def test_copy_wait_follows_the_job_and_exits_with_its_result(dlm, disks):
    size = 6 * 1024 * 1024  # at the server's 4 MiB/s: more than a second of progress
    (disks.src / "big.bin").write_bytes(os.urandom(size))
    uid = dlm.ok("ingest", "register-data-item", "big.bin", "big.bin", "--storage-name", "cli-src")
    run = dlm("--json", "migration", "copy-data-item", "--uid", uid, "--destination-name", "cli-dst", "--wait")
    assert run.code == 0, run.err
    job = run.json
    assert job["state"] == "completed"
    assert job["bytes_done"] == job["bytes_total"] == size
    assert (disks.dst / "big.bin").read_bytes() == (disks.src / "big.bin").read_bytes()
    assert f"copy job {job['migration_id']}" in run.err  # the progress went to stderr
    copies = dlm.ok("request", "query-item-storage", "--item-name", "big.bin")
    assert len(copies) == 2


def test_copy_wait_exits_1_when_the_job_fails(dlm, disks):
    (disks.src / "small.bin").write_bytes(b"s" * 100)
    (disks.dst / "blocker").write_bytes(b"a file where a directory is wanted")
    uid = dlm.ok("ingest", "register-data-item", "small.bin", "small.bin", "--storage-name", "cli-src")
    destination = ("--destination-name", "cli-dst", "--path", "blocker/small.bin")
    run = dlm("migration", "copy-data-item", "--uid", uid, *destination, "--wait")
    assert run.code == 1
    assert "failed" in run.err


def test_register_dir_registers_only_what_is_new(dlm, disks):
    tree = disks.src / "batch"
    (tree / "night-1").mkdir(parents=True)
    (tree / "a.ms").write_bytes(b"a" * 10)
    (tree / "night-1" / "b.fits").write_bytes(b"b" * 20)
    (tree / "night-1" / "c.fits").write_bytes(b"c" * 30)
    (tree / ".partial").write_bytes(b"skipped")
    first = dlm.ok("ingest", "register-dir", str(tree), "--storage-name", "cli-src", "--uri-prefix", "batch")
    names = sorted(item["item_name"] for item in first["registered"])
    assert names == ["batch/a.ms", "batch/night-1/b.fits", "batch/night-1/c.fits"]
    row = dlm.ok("data-item", "query-data-item", "--item-name", "batch/night-1/c.fits")[0]
    assert (row["uri"], row["item_size"], row["item_state"]) == ("batch/night-1/c.fits", 30, "READY")

    (tree / "night-1" / "d.fits").write_bytes(b"d")
    second = dlm.ok("ingest", "register-dir", str(tree), "--storage-name", "cli-src", "--uri-prefix", "batch")
    assert [item["item_name"] for item in second["registered"]] == ["batch/night-1/d.fits"]
    assert second["already_registered"] == 3
    again = dlm("ingest", "register-dir", str(tree), "--storage-name", "cli-src", "--uri-prefix", "batch")
    assert again.code == 0 and "0 registered, 4 already registered" in again.err
    assert dlm("ingest", "register-dir", str(tree), "--storage-name", "nope").code == 1

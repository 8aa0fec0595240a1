"""DLM's rclone client: a supervised daemon per process, remotes given per call, secrets kept out."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core import rclone


def _cmdline_and_environ(pid: int) -> str:
    return (Path(f"/proc/{pid}/cmdline").read_bytes() + Path(f"/proc/{pid}/environ").read_bytes()).decode(
        errors="replace"
    )


def test_stat_size_and_listing_of_a_local_tree(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.txt").write_text("hello")
    (tmp_path / "a" / "b" / "two.txt").write_text("hello, world")
    remote = {"name": "l", "type": "local", "root_path": str(tmp_path)}
    item = rclone.stat(remote, "a/one.txt")
    assert item["Size"] == 5 and item["IsDir"] is False
    assert item["Hashes"]["md5"] == "5d41402abc4b2a76b9719d911017c592"
    assert rclone.stat(remote, "a/missing.txt") is None
    assert rclone.size(remote, "a") == (17, 2)
    assert sorted(entry["Path"] for entry in rclone.list_files(remote, "a")) == ["b/two.txt", "one.txt"]
    assert rclone.list_files(remote, "nowhere") == []


@pytest.mark.parametrize("root", ["/", "tree"])
def test_a_listing_of_only_some_files_lists_just_those_taken_as_named(tmp_path, root):
    tree = tmp_path / "tree"
    names = ["a/one.txt", "#not-a-comment.txt", " spaced .txt", "a/b/deep.txt"]
    for name in [*names, "a/other.txt", "skipped.txt"]:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(name)
    remote = {"name": "l", "type": "local", "root_path": "/" if root == "/" else str(tree)}
    path = str(tree) if root == "/" else "/"

    listed = rclone.list_files(remote, path, hashes=("md5",), only=[*names, "missing.txt"])

    assert sorted(entry["Path"] for entry in listed) == sorted(names)
    assert all(entry["Hashes"]["md5"] for entry in listed)
    with pytest.raises(ValueError, match="line break"):
        rclone.list_files(remote, path, only=["two\nlines"])


def test_the_daemon_is_started_again_when_it_dies(tmp_path, settings):
    settings.DLM_RCLONE_DIRECT = False  # a plain disk's file is otherwise described without the daemon
    remote = {"name": "l", "type": "local", "root_path": str(tmp_path)}
    (tmp_path / "f").write_text("x")
    assert rclone.stat(remote, "f") is not None
    starts = rclone.DAEMON.starts
    rclone.DAEMON._process.kill()
    rclone.DAEMON._process.wait()
    assert rclone.stat(remote, "f")["Size"] == 1
    assert rclone.DAEMON.starts == starts + 1


def test_the_bandwidth_limit_is_applied_to_each_new_daemon(settings):
    settings.DLM_COPY_BWLIMIT = "20M"
    try:
        rclone.DAEMON.stop()  # the next call starts a daemon with the limit
        assert rclone.DAEMON.call("core/bwlimit", {})["bytesPerSecond"] == 20 * 1024 * 1024
    finally:
        settings.DLM_COPY_BWLIMIT = ""
        rclone.DAEMON.stop()
    assert rclone.DAEMON.call("core/bwlimit", {})["bytesPerSecond"] == -1


def test_secrets_are_not_on_the_daemons_command_line_or_environment_nor_on_disk(s3_server):
    (s3_server.root / "bucket1" / "s.txt").write_text("s")
    assert rclone.stat(s3_server.config, "bucket1/s.txt")["Size"] == 1
    seen = _cmdline_and_environ(rclone.DAEMON._process.pid)
    assert s3_server.secret not in seen
    assert "--rc-pass" not in seen.split("\0")  # the daemon's own credentials come by environment
    for folder, _, files in os.walk(os.path.dirname(rclone.DAEMON.socket_path)):
        for name in files:
            path = Path(folder, name)
            if path.is_file():  # the socket itself holds nothing
                assert s3_server.secret not in path.read_text(errors="replace")


def test_a_wrong_secret_gives_rclones_reason_without_the_secret(s3_server):
    wrong = "SK-wrong-" + "7" * 20
    remote = {**s3_server.config, "parameters": {**s3_server.config["parameters"], "secret_access_key": wrong}}
    result = rclone.remote_reachable({**remote, "root_path": "/bucket1"})
    assert result.reachable is False
    assert "SignatureDoesNotMatch" in result.error
    assert wrong not in result.error and s3_server.secret not in result.error


def test_sftp_password_is_obscured_for_rclone_and_works(sftp_server):
    (sftp_server.root / "p.txt").write_text("pp")
    assert rclone.stat(sftp_server.config, "p.txt")["Size"] == 2
    bad = {**sftp_server.config, "parameters": {**sftp_server.config["parameters"], "pass": "nope-nope"}}
    result = rclone.remote_reachable(bad)
    assert result.reachable is False and "nope-nope" not in result.error


def test_unreachable_endpoint_is_reported_within_the_timeout(settings):
    settings.DLM_RCLONE_TIMEOUT = 3
    remote = {"name": "x", "type": "s3", "parameters": {"provider": "Rclone", "endpoint": "http://127.0.0.1:9",
              "access_key_id": "a", "secret_access_key": "b"}, "root_path": "/bucket"}  # fmt: skip
    result = rclone.remote_reachable(remote)
    assert result.reachable is False and result.error


@pytest.mark.parametrize("remote", [{"name": "x", "type": "no-such-backend"}])
def test_an_unknown_backend_is_refused(remote):
    result = rclone.remote_reachable(remote)
    assert result.reachable is False and "no-such-backend" in result.error


def _finished(job_id: int) -> dict:
    for _ in range(500):
        status = rclone.job_status(job_id)
        if status["finished"]:
            return status
        time.sleep(0.02)
    raise AssertionError(f"rclone job {job_id} did not finish")


def test_purge_removes_a_local_tree_as_a_job(tmp_path):
    (tmp_path / "tree" / "sub" / "deep").mkdir(parents=True)
    for name in ("a.txt", "sub/b.txt", "sub/deep/c.txt"):
        (tmp_path / "tree" / name).write_text(name)
    (tmp_path / "tree-beside.txt").write_text("stays")
    remote = {"name": "l", "type": "local", "root_path": str(tmp_path)}

    status = _finished(rclone.purge_start(remote, "tree/", group="purge-test"))

    assert status["success"] is True, status
    assert not (tmp_path / "tree").exists() and (tmp_path / "tree-beside.txt").read_text() == "stays"
    missing = _finished(rclone.purge_start(remote, "tree", group="purge-test"))
    assert missing["success"] is False and rclone.error_is_not_found(missing["error"]), missing


def test_purge_removes_a_prefix_on_s3_and_nothing_else(s3_server):
    bucket = s3_server.root / "bucket1"
    for name in ("dlm/tree/a.txt", "dlm/tree/sub/b.txt", "dlm/treetop.txt"):
        (bucket / name).parent.mkdir(parents=True, exist_ok=True)
        (bucket / name).write_text(name)

    status = _finished(rclone.purge_start(s3_server.config, "bucket1/dlm/tree", group="purge-test"))

    assert status["success"] is True, status
    assert rclone.stat(s3_server.config, "bucket1/dlm/tree", hashes=()) is None
    left = rclone.list_files(s3_server.config, "bucket1/dlm", hashes=())
    assert [entry["Path"] for entry in left] == ["treetop.txt"]


@pytest.mark.parametrize("path", ["", "/", "//"])
def test_purge_refuses_the_root_of_a_remote(tmp_path, path):
    (tmp_path / "kept.txt").write_text("kept")
    remote = {"name": "l", "type": "local", "root_path": str(tmp_path)}
    with pytest.raises(rclone.RcloneError, match="root of a remote") as caught:
        rclone.purge_start(remote, path, group="purge-test")
    assert caught.value.permanent and (tmp_path / "kept.txt").read_text() == "kept"


@pytest.mark.parametrize(
    ("message", "not_found"),
    [
        ("directory not found", True),
        ("object not found", True),
        ("failed to remove directories: stat /x/y: no such file or directory", True),
        ("permission denied", False),
        ("is a file not a directory", False),
    ],
)
def test_error_is_not_found(message, not_found):
    assert rclone.error_is_not_found(message) is not_found

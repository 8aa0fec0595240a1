"""``dlm watch``: every file or directory that lands in the watched directory is registered
exactly once, after it stopped changing, including what arrived while the watcher was down and
while DLM itself was stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.cli.conftest import ROOT
from tests.storage_servers import _free_port


def start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """Another gunicorn of the test server, on the same database, on ``port``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "dlm.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--graceful-timeout", "2"],
        cwd=ROOT, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    wait_for(lambda: _up(port), 60, "gunicorn to start")
    return process


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(20)


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/heartbeat", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.3)


def landing(dlm, directory: Path, name: str) -> str:
    """``directory`` made the root of a storage of its own, ``name``; its id."""
    directory.mkdir()
    dlm.ok("storage", "init-storage", name, "filesystem", "/", "posix", "--location-name", "cli-loc")
    config = json.dumps({"name": name, "type": "local", "root_path": str(directory)})
    dlm.ok("storage", "create-storage-config", config, "--storage-name", name)
    return dlm.ok("storage", "query-storage", "--storage-name", name)[0]["storage_id"]


def item_names(dlm, storage_id: str) -> list[str]:
    return [row["item_name"] for row in dlm.ok("data-item", "query-data-item", "--storage-id", storage_id)]


@pytest.fixture
def watched(dlm, disks, tmp_path) -> tuple[Path, str]:
    directory = tmp_path / "landing"
    return directory, landing(dlm, directory, "cli-watch")


def test_watch_registers_each_arrival_once(dlm, cli_server, watched, tmp_path):
    directory, storage_id = watched

    def names() -> list[str]:
        return item_names(dlm, storage_id)

    (directory / "early.dat").write_bytes(b"arrived while the watcher was down")
    port = _free_port()
    web = start_web(cli_server.env, port, tmp_path / "web.log")
    watcher = subprocess.Popen(
        [sys.executable, "-m", "dlm_cli", "watch", str(directory), "--storage-name", "cli-watch", "--settle", "1"],
        cwd=tmp_path, env=dlm.env(DLM_URL=f"http://127.0.0.1:{port}"), stderr=(tmp_path / "watch.log").open("w"),
    )  # fmt: skip
    try:
        wait_for(lambda: "early.dat" in names(), 90, "the earlier arrival")

        (directory / "created.dat").write_bytes(b"c" * 100)
        outside = tmp_path / "outside.dat"
        outside.write_bytes(b"m" * 200)
        os.rename(outside, directory / "moved.dat")
        run = tmp_path / "run-1"
        (run / "sub").mkdir(parents=True)
        (run / "a.fits").write_bytes(b"a" * 10)
        (run / "sub" / "b.fits").write_bytes(b"b" * 20)
        os.rename(run, directory / "run-1")
        with (directory / "slow.dat").open("wb") as slow:  # written over 3 seconds
            for _ in range(6):
                slow.write(b"s" * 1000)
                slow.flush()
                time.sleep(0.5)
        wanted = {"early.dat", "created.dat", "moved.dat", "run-1", "slow.dat"}
        wait_for(lambda: wanted <= set(names()), 120, "the new arrivals")
        rows = {row["item_name"]: row for row in dlm.ok("data-item", "query-data-item", "--storage-id", storage_id)}
        assert rows["slow.dat"]["item_size"] == 6000  # registered once whole
        assert rows["run-1"]["item_type"] == "container"

        # DLM stopped: the arrivals wait, and are registered once it is back.
        stop(web)
        (directory / "offline-1.dat").write_bytes(b"1")
        (directory / "offline-2.dat").write_bytes(b"2")
        time.sleep(4)  # several tries fail meanwhile
        web = start_web(cli_server.env, port, tmp_path / "web.log")
        wanted |= {"offline-1.dat", "offline-2.dat"}
        wait_for(lambda: wanted <= set(names()), 120, "the arrivals while DLM was stopped")
    finally:
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(20)
        stop(web)
    log = (tmp_path / "watch.log").read_text()
    assert code == 0, log
    found = names()
    assert sorted(found) == sorted(wanted), log  # each exactly once
    for name in wanted:
        assert f"registered {name} as" in log
    assert "trying again" in log  # it noticed DLM was down
    assert cli_server.token not in log


def test_watch_by_polling_and_copying(dlm, disks, tmp_path):
    directory = tmp_path / "polled"
    storage_id = landing(dlm, directory, "cli-watch-poll")
    watcher = subprocess.Popen(
        [sys.executable, "-m", "dlm_cli", "watch", str(directory), "--storage-name", "cli-watch-poll",
         "--settle", "0.5", "--poll", "--copy-to", "cli-dst"],
        cwd=tmp_path, env=dlm.env(), stderr=(tmp_path / "watch.log").open("w"),
    )  # fmt: skip
    try:
        (directory / "polled.dat").write_bytes(b"p" * 300)
        wait_for(lambda: (disks.dst / "polled.dat").exists() and (disks.dst / "polled.dat").stat().st_size == 300,
                 120, "the copy of the polled file")  # fmt: skip
    finally:
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(20)
    log = (tmp_path / "watch.log").read_text()
    assert code == 0, log
    assert "polling" in log and "copying polled.dat to cli-dst" in log
    assert item_names(dlm, storage_id) == ["polled.dat"]

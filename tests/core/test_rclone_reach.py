"""Reaching this process's rclone daemon: many threads at once, threads that come and go (as a
threaded server's requests do), a daemon killed under its callers, a daemon that cannot start."""

from __future__ import annotations

import http.client
import http.server
import logging
import os
import signal
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from catalogue.models import DataItem, Storage
from catalogue.services import storage_config_create
from core import rclone
from core.rclone import daemon
from core.rclone.rcd import Rcd, UnixConnection
from tests.conftest import Api
from tests.factories import make_storage

CALLS = 200
AT_ONCE = 24


def _each_on_its_own_thread(calls: int, at_once: int, call: Callable[[int], Any]) -> list[BaseException]:
    """``call(0)``…``call(calls - 1)``, each on a new thread that ends when it returns (as the
    requests of a threaded server do), ``at_once`` of them at a time; what they raised."""
    room = threading.Semaphore(at_once)
    failures: list[BaseException] = []
    threads = []

    def one(number: int) -> None:
        try:
            call(number)
        except BaseException as exc:  # collected: the test shows them all
            failures.append(exc)
        finally:
            room.release()

    for number in range(calls):
        room.acquire()
        thread = threading.Thread(target=one, args=(number,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return failures


def _wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.01)


@pytest.fixture
def tree(tmp_path, settings) -> dict[str, Any]:
    """A local remote over a directory holding ``a/one.txt`` and ``a/b/two.txt``, its files
    described by the daemon (these tests are about reaching it), not in this process."""
    settings.DLM_RCLONE_DIRECT = False
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.txt").write_text("hello")
    (tmp_path / "a" / "b" / "two.txt").write_text("hello, world")
    return {"name": "l", "type": "local", "root_path": str(tmp_path)}


@pytest.fixture
def fresh_daemon():
    """No daemon running when the test starts: the test's own threads start it."""
    rclone.DAEMON.stop()
    yield
    rclone.DAEMON.stop()


def _stat_or_list(tree: dict[str, Any]) -> Callable[[int], None]:
    def call(number: int) -> None:
        if number % 2:
            assert rclone.stat(tree, "a/one.txt")["Size"] == 5
        else:
            assert sorted(entry["Path"] for entry in rclone.list_files(tree, "a")) == ["b/two.txt", "one.txt"]

    return call


# --- many callers at once -----------------------------------------------------------------------


def test_200_concurrent_calls_from_threads_that_come_and_go_all_succeed(tree, fresh_daemon):
    starts = rclone.DAEMON.starts

    failures = _each_on_its_own_thread(CALLS, AT_ONCE, _stat_or_list(tree))

    assert failures == []
    assert rclone.DAEMON.starts == starts + 1  # one daemon, started once, for every thread


def test_a_daemon_started_by_a_thread_outlives_that_thread(tree, fresh_daemon):
    thread = threading.Thread(target=rclone.DAEMON.ensure)
    thread.start()
    thread.join()
    process = rclone.DAEMON._process

    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(1)  # it is not stopped when the thread that started it has ended
    starts = rclone.DAEMON.starts
    assert rclone.stat(tree, "a/one.txt")["Size"] == 5
    assert rclone.DAEMON.starts == starts


def test_a_full_queue_of_connections_is_waited_for(tmp_path):
    path = str(tmp_path / "s.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(0)
    waiting = []
    for _ in range(4):  # fill the listen queue: a unix socket's connect would now fail with EAGAIN
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.setblocking(False)
        try:
            client.connect(path)
        except BlockingIOError:
            client.close()
            break
        waiting.append(client)
    else:
        pytest.fail("the listen queue did not fill")
    accepted = []
    emptied = threading.Timer(0.3, lambda: accepted.extend(server.accept() for _ in waiting))
    emptied.start()

    connection = UnixConnection(path, timeout=10)
    try:
        connection.connect()  # waits for room instead of failing
        assert connection.sock is not None
    finally:
        emptied.join()
        connection.close()
        for client in waiting:
            client.close()
        for accepted_socket, _ in accepted:
            accepted_socket.close()
        server.close()


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        # two answers with a length on one kept connection
        ([b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"] * 2,
         [(200, b'{"a":1}', False)] * 2),
        # chunks, then an error status with a length
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n",
          b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}"],
         [(200, b"[1,2]", False), (404, b"{}", False)]),
        # neither: the body ends with the connection, which is not kept
        ([b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}"], [(200, b"{}", True)]),
    ],
)  # fmt: skip
def test_the_daemons_answers_are_read_as_http_client_reads_them(tmp_path, answers, expected):
    """The lean reading of an answer's head gives what ``http.client`` gives: the status, the whole
    body by its length, its chunks or the connection's end, and whether the connection is kept."""
    got = []
    with _answering(tmp_path, answers) as connection:
        for _ in answers:
            connection.request_in_one_write("POST", "/rc/noop", b"{}", {"Content-Type": "application/json"})
            response = connection.getresponse()
            got.append((response.status, response.read(), response.will_close))
    assert got == expected


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"", http.client.RemoteDisconnected),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", http.client.IncompleteRead),
    ],
)
def test_a_dropped_or_short_answer_is_the_error_http_client_raises(tmp_path, answer, error):
    with _answering(tmp_path, [answer]) as connection:
        connection.request_in_one_write("POST", "/rc/noop", b"{}", {})
        with pytest.raises(error):
            connection.getresponse().read()


@contextmanager
def _answering(tmp_path: Path, answers: list[bytes]) -> Iterator[UnixConnection]:
    """A connection to a unix socket whose one peer sends ``answers``, one for each request."""
    path = str(tmp_path / "s.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve() -> None:
        peer, _ = server.accept()
        with peer:
            for answer in answers:
                peer.recv(65536)
                peer.sendall(answer)

    thread = threading.Thread(target=serve)
    thread.start()
    connection = UnixConnection(path, timeout=10)
    try:
        yield connection
    finally:
        connection.close()
        thread.join()
        server.close()


# --- through the service, as a threaded server runs it -------------------------------------------


def _with_client(token: str, call: Callable[[Api, int], Any]) -> Callable[[int], None]:
    """``call(api, number)`` on a thread with its own test client and database connection."""

    def one(number: int) -> None:
        try:
            call(Api(Client(), token), number)
        finally:
            connection.close()

    return one


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_200_concurrent_remote_checks_all_reach_rclone(make_api, tmp_path, fresh_daemon):
    remote = {"name": "x", "type": "local", "root_path": str(tmp_path)}  # nothing is stored: no writer
    token = make_api("admin").token
    answers = []

    def check(api: Api, number: int) -> None:
        response = api.post("/storage/rclone_config", body=remote)
        answers.append((response.status_code, response.json()))

    failures = _each_on_its_own_thread(CALLS, AT_ONCE, _with_client(token, check))

    assert failures == []
    assert answers == [(200, True)] * CALLS


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_200_concurrent_access_checks_all_reach_rclone(make_api, tmp_path, fresh_daemon):
    if connection.vendor == "sqlite":
        # Its shared-cache in-memory test database answers "table is locked" (no busy wait) to a
        # second writer; the file database DLM runs on waits instead.
        pytest.skip("SQLite's in-memory test database cannot hold concurrent writers; run on PostgreSQL")
    storage = make_storage(storage_name="st")
    storage_config_create(
        config={"name": "x", "type": "local", "root_path": str(tmp_path)}, storage_id=storage.storage_id
    )
    token = make_api("viewer").token
    answers = []

    def check(api: Api, number: int) -> None:
        response = api.get("/storage/check_storage_access", {"storage_name": "st"})
        answers.append((response.status_code, response.json()))

    failures = _each_on_its_own_thread(CALLS, AT_ONCE, _with_client(token, check))

    assert failures == []
    assert len(answers) == CALLS
    assert [answer for answer in answers if answer[0] != 200 or answer[1]["reachable"] is not True] == []
    assert Storage.objects.get(pk=storage.pk).storage_checked is True


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_200_concurrent_registrations_all_reach_rclone(make_api, tmp_path, fresh_daemon):
    if connection.vendor == "sqlite":
        # Its shared-cache in-memory test database answers "table is locked" (no busy wait) to a
        # second writer; the file database DLM runs on waits instead.
        pytest.skip("SQLite's in-memory test database cannot hold concurrent writers; run on PostgreSQL")
    root = tmp_path / "root"
    for number in range(CALLS):
        (root / f"eb-{number % 10}").mkdir(parents=True, exist_ok=True)
        (root / f"eb-{number % 10}" / f"f{number}.bin").write_bytes(b"x" * number)
    storage = make_storage(storage_name="local-disk", root_directory=str(root))
    storage_config_create(config={"name": "disk", "type": "local", "root_path": "/"}, storage_id=storage.storage_id)
    token = make_api("operator").token
    answers = []

    def register(api: Api, number: int) -> None:
        uri = f"eb-{number % 10}/f{number}.bin"
        response = api.post("/ingest/register_data_item", {"storage_name": "local-disk", "item_name": uri, "uri": uri})
        answers.append((response.status_code, response.content))

    failures = _each_on_its_own_thread(CALLS, AT_ONCE, _with_client(token, register))

    assert failures == []
    assert [answer for answer in answers if answer[0] != 200] == []
    sizes = dict(DataItem.objects.filter(storage=storage).values_list("item_name", "item_size"))
    assert sizes == {f"eb-{number % 10}/f{number}.bin": number for number in range(CALLS)}


# --- a daemon killed under its callers ----------------------------------------------------------


def test_reads_go_on_through_a_daemon_killed_under_them(tree):
    rclone.DAEMON.ensure()
    starts, victim = rclone.DAEMON.starts, rclone.DAEMON._process
    done = []

    def call(number: int) -> None:
        _stat_or_list(tree)(number)
        done.append(number)

    killer = threading.Thread(
        target=lambda: (_wait_for(lambda: len(done) >= CALLS // 4), os.kill(victim.pid, signal.SIGKILL))
    )
    killer.start()
    failures = _each_on_its_own_thread(CALLS, AT_ONCE, call)
    killer.join()

    assert failures == []
    assert victim.poll() == -signal.SIGKILL
    assert rclone.DAEMON.starts == starts + 1  # started again once, not once per caller


def test_a_copy_whose_daemon_is_killed_says_so_and_is_not_made_again(tmp_path, settings, caplog):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    (tmp_path / "out").mkdir()
    local = {"name": "l", "type": "local", "root_path": "/"}
    settings.DLM_COPY_BWLIMIT = "512k"  # the copy takes seconds: time to kill the daemon under it
    rclone.DAEMON.stop()
    try:
        rclone.DAEMON.ensure()
        starts, victim = rclone.DAEMON.starts, rclone.DAEMON._process

        def kill_once_the_copy_has_begun() -> None:
            _wait_for(lambda: any((tmp_path / "out").iterdir()))  # its partial file is there
            os.kill(victim.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_once_the_copy_has_begun)
        killer.start()

        with pytest.raises(rclone.RcloneError) as caught:
            rclone.copy_file(local, str(source), local, str(tmp_path / "out" / "big.bin"))
        killer.join()
    finally:
        settings.DLM_COPY_BWLIMIT = ""
        rclone.DAEMON.stop()

    message = str(caught.value)
    assert message.startswith("rclone could not be reached: its daemon stopped (exit status -9) during the call")
    assert caught.value.permanent is False
    assert rclone.DAEMON.starts == starts  # the copy was not started again on a new daemon
    logged = [record.getMessage() for record in caplog.records if record.name == "dlm.rclone"]
    assert any(
        line.startswith("rclone operations/copyfile could not be reached")
        and any(kind in line for kind in ("ConnectionResetError", "RemoteDisconnected", "IncompleteRead"))
        for line in logged
    ), logged


def test_a_daemon_whose_socket_was_deleted_is_replaced(tree):
    rclone.DAEMON.ensure()
    starts, stranded = rclone.DAEMON.starts, rclone.DAEMON._process
    os.unlink(rclone.DAEMON.socket_path)  # as a cleaner of /tmp would

    assert rclone.stat(tree, "a/one.txt")["Size"] == 5
    assert rclone.DAEMON.starts == starts + 1
    assert stranded.poll() is not None  # the unreachable one was stopped, not left running


# --- a daemon that cannot start -----------------------------------------------------------------


def _s3_remote(secret: str) -> dict[str, Any]:
    parameters = {"provider": "Rclone", "endpoint": "http://127.0.0.1:9", "access_key_id": "AK"}
    return {"name": "s", "type": "s3", "parameters": {**parameters, "secret_access_key": secret}, "root_path": "/b"}


def _sftp_remote(password: str) -> dict[str, Any]:
    return {"name": "a", "type": "sftp", "parameters": {"host": "127.0.0.1", "user": "dlm", "pass": password}}


@pytest.fixture
def broken_binary(tmp_path, monkeypatch) -> Callable[[bytes], Path]:
    """``broken_binary(content)``: the daemon is started from a file holding ``content``."""

    def make(content: bytes) -> Path:
        path = tmp_path / "rclone"
        path.write_bytes(content)
        path.chmod(0o755)
        monkeypatch.setattr(daemon, "rclone_binary", lambda: str(path))  # where the daemon finds it
        return path

    rclone.DAEMON.stop()
    yield make
    monkeypatch.undo()
    rclone.DAEMON.stop()


def _logged(caplog) -> str:
    return "\n".join(
        record.getMessage() + (str(record.exc_info) if record.exc_info else "") for record in caplog.records
    )


def test_a_daemon_that_exits_at_start_gives_its_reason(broken_binary, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "SK-start-" + "5" * 16
    broken_binary(b"#!/bin/sh\necho 'CRITICAL: Failed to start remote control: bind: address in use' >&2\nexit 3\n")

    with pytest.raises(rclone.RcloneError) as caught:
        rclone.stat(_s3_remote(secret), "f")

    message = str(caught.value)
    assert message == (
        "rclone could not be reached: its daemon exited at start with status 3 "
        "(CRITICAL: Failed to start remote control: bind: address in use)"
    )
    assert caught.value.permanent is False
    assert "exited at start with status 3" in _logged(caplog)
    assert secret not in _logged(caplog) and secret not in message


def test_a_binary_that_cannot_run_gives_the_cause_in_the_message_and_the_log(broken_binary, caplog):
    caplog.set_level(logging.DEBUG)
    password = "pw-start-" + "6" * 16
    path = broken_binary(b"\x7fELF-not-really")

    with pytest.raises(rclone.RcloneError) as caught:
        rclone.stat(_sftp_remote(password), "f")  # the password is obscured by the daemon first

    message = str(caught.value)
    assert message == "rclone could not be reached: its daemon could not be started (Exec format error)"
    logged = _logged(caplog)
    assert "OSError: [Errno 8] Exec format error" in logged and str(path) in logged
    assert password not in logged and password not in message


def test_after_a_failed_start_the_next_call_starts_a_good_daemon(broken_binary, tree, monkeypatch):
    broken_binary(b"#!/bin/sh\nexit 1\n")
    with pytest.raises(rclone.RcloneError, match="exited at start with status 1$"):
        rclone.stat(tree, "a/one.txt")

    monkeypatch.undo()

    assert rclone.stat(tree, "a/one.txt")["Size"] == 5


# --- kept-alive connections ---------------------------------------------------------------------


class _CountingServer(socketserver.ThreadingUnixStreamServer):
    """An HTTP/1.1 server on a unix socket answering every POST with ``{"ok": true}``; it counts the
    connections it accepts, and with ``close_after`` closes each after answering once, without
    saying so in the answer (as a daemon's idle timeout would)."""

    daemon_threads = True

    def __init__(self, path: str, close_after: bool) -> None:
        self.accepted = 0
        self.closed = 0
        self.close_after = close_after
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers["Content-Length"]))
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = server.close_after

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(path, Handler)

    def get_request(self):
        self.accepted += 1
        return super().get_request()

    def shutdown_request(self, request) -> None:
        super().shutdown_request(request)
        self.closed += 1


@pytest.fixture
def http_on_socket(tmp_path) -> Callable[[bool], tuple[_CountingServer, Rcd]]:
    """``http_on_socket(close_after)``: a counting server on ``rc.sock`` in a directory, and an
    ``Rcd`` whose calls go to it (no rclone process behind it)."""
    servers: list[_CountingServer] = []

    def make(close_after: bool) -> tuple[_CountingServer, Rcd]:
        server = _CountingServer(str(tmp_path / "rc.sock"), close_after)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, Rcd(None, str(tmp_path), "Basic x", None)  # type: ignore[arg-type]

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_calls_of_a_thread_share_one_connection(http_on_socket):
    server, rcd = http_on_socket(False)

    answers = [rcd.post("rc/noop", {"n": n}, 5) for n in range(20)]

    assert answers == [(200, {"ok": True})] * 20
    assert server.accepted == 1
    rcd.close_connections()


def test_each_thread_has_its_own_connection(http_on_socket):
    server, rcd = http_on_socket(False)

    failures = _each_on_its_own_thread(8, 8, lambda n: rcd.post("rc/noop", {"n": n}, 5))

    assert failures == []
    assert server.accepted == 8  # a connection carries one call at a time: never shared by threads
    rcd.close_connections()


def test_a_connection_the_daemon_closed_is_not_used_again(http_on_socket):
    server, rcd = http_on_socket(True)

    answers = []
    for n in range(5):
        answers.append(rcd.post("rc/noop", {"n": n}, 5))
        _wait_for(lambda n=n: server.closed == n + 1)  # the server has closed its end

    assert answers == [(200, {"ok": True})] * 5  # not one call failed on a closed connection
    assert server.accepted == 5

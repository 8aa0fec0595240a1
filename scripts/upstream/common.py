"""What the modes share: where DLM is, how to reach it, logging and the summaries' shortening."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

DLM_ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "harness"
# DLM listens on the loopback: no proxy may stand between it and the clients.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
LOOPBACK = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def log(message: str) -> None:
    """One progress line on stderr (the summary alone goes to stdout)."""
    print(f"[upstream-tests] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd``; a non-zero exit raises CalledProcessError."""
    return subprocess.run(cmd, check=True, **kwargs)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def short(text: str, width: int = 110) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"

"""DLM running as it runs for people, for the tests that talk to it over HTTP: gunicorn and a
django-q2 worker (``manage.py qcluster``) in processes of their own, on a database of their own
(a fresh PostgreSQL database beside the test database when ``DATABASE_URL`` names a PostgreSQL
server, else a SQLite file), with an admin account and its API token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.storage_servers import _free_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class RunningDlm:
    url: str
    env: dict[str, str]
    admin: str  # an account with the admin role
    token: str  # its API token
    directory: Path
    log: Path

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        ).stdout


def _database_url(directory: Path, name: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{directory / 'dlm.sqlite3'}"
    import psycopg

    server, _, _ = url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def _drop_database(url: str) -> None:
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg

    server, _, name = url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _stop(process: subprocess.Popen) -> None:
    # TERM to the main process only: django-q2's cluster hangs when its children get it too.
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left of its group
    except ProcessLookupError:
        pass
    process.wait(5)


@contextmanager
def dlm_running(directory: Path, *, name: str, env: dict[str, str] | None = None) -> Iterator[RunningDlm]:
    """DLM on a free port, its files under ``directory``; ``name`` names its PostgreSQL database
    and its admin account; ``env`` adds settings."""
    database = _database_url(directory, f"dlm_{name}_{os.getpid()}")
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DLM_") and k != "DATABASE_URL"}
    environment.update(
        DJANGO_SETTINGS_MODULE="dlm.settings",
        DATABASE_URL=database,
        DLM_VAR_DIR=str(directory / "var"),
        DLM_DEBUG="true",
        DLM_WORKERS="2",
        PYTHONPATH=str(ROOT),
        **(env or {}),
    )
    running = RunningDlm(
        f"http://127.0.0.1:{port}", environment, f"{name}-admin", "", directory, directory / "server.log"
    )
    processes: list[subprocess.Popen] = []
    try:
        running.manage("migrate", "--noinput")
        running.token = running.manage("create_api_token", running.admin, "--role", "admin").strip().splitlines()[-1]
        with open(running.log, "w") as log:
            for command in (
                [sys.executable, "-m", "gunicorn", "dlm.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                 "--graceful-timeout", "2", "--control-socket", str(directory / "gunicorn.ctl")],
                [sys.executable, "manage.py", "qcluster"],
            ):  # fmt: skip
                processes.append(
                    subprocess.Popen(
                        command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{running.url}/heartbeat", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"DLM did not start:\n{running.log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield running
    finally:
        for process in processes:
            _stop(process)
        _drop_database(database)

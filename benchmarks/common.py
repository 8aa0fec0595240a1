"""What the benchmarks share: the bench database and Django's environment, the processes of a run
(gunicorn, an S3 server, any other), a JSON client of the API, and client processes with their figures."""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import psycopg
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgres://postgres@127.0.0.1:5432"
RCLONE = str(Path(sys.executable).with_name("rclone"))


def log(message: str) -> None:
    """Print ``message`` at once (the runs are long; a pipe would hold it back)."""
    print(message, flush=True)


def exit_status(ok: bool) -> int:
    """Says whether every target was met, and returns the script's exit status (0 when so, else 1)."""
    log("\nall targets met" if ok else "\nsome targets missed")
    return 0 if ok else 1


def add_database_options(parser: argparse.ArgumentParser, *, db: str, db_help: str) -> None:
    """``--db`` (default ``db``) and ``--pg``, the PostgreSQL server's URL."""
    parser.add_argument("--db", default=db, help=db_help)
    parser.add_argument("--pg", default=PG_URL, help="PostgreSQL server URL")


def ensure_database(server_url: str, name: str, fresh: bool) -> None:
    """The database ``name`` on ``server_url``, created if absent; dropped first when ``fresh``."""
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            log(f"dropping database {name} (--fresh)")
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            log(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


# DLM settings a run takes from its environment (every other DLM_ setting is dropped): whether a
# local disk's files are described in DLM's process or by rclone (both roads measured alike).
PASSED_ON = ("DLM_RCLONE_DIRECT",)


def django_env(database_url: str, var_dir: str) -> dict[str, str]:
    """The environment of every Django process of the run: production mode on the bench database."""
    env = {k: v for k, v in os.environ.items() if (not k.startswith("DLM_") or k in PASSED_ON) and k != "DATABASE_URL"}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="dlm.settings",
        DLM_DEBUG="false",
        DLM_SECRET_KEY=secrets.token_urlsafe(50),
        DLM_FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DLM_ALLOWED_HOSTS="127.0.0.1,localhost",
        DLM_LOG_LEVEL="WARNING",
        DLM_VAR_DIR=var_dir,  # keeps the checkout's var/ out of it
    )
    return env


def rclone_env() -> dict[str, str]:
    """This process's environment without ``RCLONE_*`` settings, which would change what rclone does."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}


def rclone(*args: str) -> None:
    """``rclone args`` without a config file or ``RCLONE_*`` settings; a failure ends the run."""
    subprocess.run([RCLONE, *args, "--config", os.devnull], env=rclone_env(), check=True)


def manage(env: dict[str, str], *args: str) -> str:
    """The output of ``manage.py args`` in ``env``; a failure ends the run."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def free_port() -> int:
    """A TCP port free on the loopback interface just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """gunicorn serving the project on a loopback port."""

    proc: subprocess.Popen
    port: int

    @property
    def base(self) -> str:
        """The server's URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class S3:
    """An ``rclone serve s3`` on a loopback port that checks request signatures against one key."""

    port: int
    key: str
    secret: str

    @property
    def parameters(self) -> dict[str, str]:
        """A DLM storage config's ``parameters`` for this server."""
        return {
            "provider": "Rclone",
            "endpoint": f"http://127.0.0.1:{self.port}",
            "access_key_id": self.key,
            "secret_access_key": self.secret,
        }

    def remote(self, bucket: str) -> str:
        """An rclone connection string for ``bucket`` on this server, for plain rclone commands."""
        return (
            f":s3,provider=Rclone,endpoint='http://127.0.0.1:{self.port}',access_key_id={self.key},"
            f"secret_access_key={self.secret}:{bucket}/"
        )


class Run:
    """One benchmark run: its temporary directory ``work``, the environment ``env`` of its Django
    processes, and the processes it started, each stopped by ``stop`` or at the latest by ``close``."""

    def __init__(self, database_url: str, prefix: str, env: dict[str, str] | None = None) -> None:
        self.work = Path(tempfile.mkdtemp(prefix=prefix))
        (self.work / "var").mkdir()
        self.database_url = database_url
        self.env = {**django_env(database_url, str(self.work / "var")), **(env or {})}
        self._started: dict[int, tuple[subprocess.Popen, IO[bytes] | None, float]] = {}

    def manage(self, *args: str) -> str:
        """The output of ``manage.py args`` in the run's environment."""
        return manage(self.env, *args)

    def token(self, username: str, role: str) -> str:
        """A new API token, valid for a day, of ``username`` (created with ``role`` if absent)."""
        return self.manage("create_api_token", username, "--role", role, "--days", "1").strip().splitlines()[-1]

    def start(
        self, args: list[str], *, env: dict[str, str], log_name: str | None = None, grace: float = 15
    ) -> subprocess.Popen:
        """``args`` running in the project directory, its output in ``work/log_name`` (or nowhere).

        It runs in a session of its own, so that Ctrl-C in the terminal reaches this process only,
        which then stops it: SIGTERM to its process group, SIGKILL after ``grace`` seconds.
        """
        log_file = open(self.work / log_name, "wb") if log_name else None  # noqa: SIM115 (closed by stop)
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._started[proc.pid] = (proc, log_file, grace)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        """``proc`` and its children stopped (at once if it does not stop within its grace)."""
        proc, log_file, grace = self._started.pop(proc.pid, (proc, None, 15))
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if log_file:
            log_file.close()

    def server(
        self,
        *,
        workers: int = 2,
        worker_class: str = "sync",
        wsgi: str = "dlm.wsgi",
        env: dict[str, str] | None = None,
        log_name: str = "gunicorn.log",
    ) -> Server:
        """gunicorn serving ``wsgi`` (production settings) on a free port, once it answers ``/heartbeat``."""
        port = free_port()
        args = [sys.executable, "-m", "gunicorn", wsgi, "--workers", str(workers), "--worker-class", worker_class,
                "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--graceful-timeout", "5"]  # fmt: skip
        proc = self.start(args, env=env or self.env, log_name=log_name)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/heartbeat")
                if conn.getresponse().status == 200:
                    conn.close()
                    return Server(proc, port)
            except OSError:
                pass
            time.sleep(0.2)
        self.stop(proc)
        raise SystemExit(f"gunicorn did not answer /heartbeat:\n{(self.work / log_name).read_text(errors='replace')}")

    def s3(self, root: Path, key: str, secret: str) -> S3:
        """An ``rclone serve s3`` of ``root`` (each folder a bucket) on a free port."""
        port = free_port()
        args = [RCLONE, "serve", "s3", str(root), "--addr", f"127.0.0.1:{port}", "--auth-key", f"{key},{secret}",
                "--config", os.devnull]  # fmt: skip
        self.start(args, env=rclone_env(), grace=10)
        return S3(port, key, secret)

    def close(self) -> None:
        """Every process still running stopped, the last started first, and ``work`` removed."""
        for proc, _, _ in reversed(list(self._started.values())):
            self.stop(proc)
        shutil.rmtree(self.work, ignore_errors=True)


@contextmanager
def bench_run(
    *, pg: str, db: str, fresh: bool, prefix: str, env: dict[str, str] | None = None, sqlite: bool = False
) -> Iterator[Run]:
    """A run on the database ``db`` of the server ``pg`` (created if absent, dropped first when
    ``fresh``), or with ``sqlite`` on a new SQLite file in the run's directory, migrated; ``env``
    adds to its Django processes' environment. On leaving, every process the run started is
    stopped and its directory removed."""
    run = Run("" if sqlite else f"{pg}/{db}", prefix, env)
    try:
        if not sqlite:
            ensure_database(pg, db, fresh)
        run.manage("migrate", "--noinput")
        yield run
    finally:
        run.close()


@contextmanager
def sqlite_run(path: Path, fresh: bool, prefix: str, env: dict[str, str] | None = None) -> Iterator[Run]:
    """A run on the SQLite file ``path`` (removed first when ``fresh``), migrated; ``env`` adds to
    its Django processes' environment. On leaving, every process the run started is stopped and
    its directory removed (the file is kept)."""
    path = path.resolve()
    if fresh:
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    run = Run(f"sqlite:///{path}", prefix, env)
    try:
        run.manage("migrate", "--noinput")
        yield run
    finally:
        run.close()


class Api:
    """The JSON API of the server on ``port``, as the bearer of ``token``; an answer other than 200 ends the run."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token

    def call(self, method: str, path: str, params: dict, body: object = None) -> Any:
        """The decoded answer to ``method path?params`` with ``body`` as JSON."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        conn.request(method, f"{path}?{urlencode(params)}", json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        answer = response.read()
        conn.close()
        if response.status != 200:
            raise SystemExit(f"{method} {path} {params}: {response.status} {answer[:500]!r}")
        return json.loads(answer)

    def add_storages(self, storages: dict[str, tuple[str, str, str, dict | None]]) -> str:
        """A location ``bench`` and its storages, by name: (type, interface, root directory, rclone
        config or None). Returns the location's id."""
        location = self.call("POST", "/storage/init_location", {"location_name": "bench", "location_type": "local-dev"})
        for name, (kind, interface, root, config) in storages.items():
            self.call("POST", "/storage/init_storage", {"storage_name": name, "storage_type": kind,
                      "storage_interface": interface, "root_directory": root, "location_id": location})  # fmt: skip
            if config:
                self.call("POST", "/storage/create_storage_config", {"storage_name": name}, config)
        return location


def run_clients(
    target: Callable[..., None],
    args_of: Callable[[int], tuple],
    clients: int,
    *,
    timeout: float,
    during: Callable[[], Any] | None = None,
) -> tuple[list[dict], Any]:
    """``target(*args_of(n), barrier, results)`` in ``clients`` processes, ``n`` from 0.

    The processes are spawned (clean children: no inherited sockets or connections) and start
    together at ``barrier``, which this process passes too; then ``during()``, when given, runs
    here while they work (to measure something). Each puts one dict on ``results``. Returns those
    dicts (waiting up to ``timeout`` seconds for each) and what ``during`` returned.
    """
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_of(n), barrier, results), daemon=True) for n in range(clients)]
    for proc in procs:
        proc.start()
    try:
        barrier.wait(timeout=60)
        measured = during() if during else None
        parts = [results.get(timeout=timeout) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
    return parts, measured


def load_figures(parts: list[dict]) -> dict[str, Any]:
    """Requests, errors (and the first), req/s and latencies in ms over the clients' ``parts``: each
    holds its ``latencies`` (seconds), ``errors``, first ``error`` and measured seconds ``elapsed``."""
    latencies = [x for part in parts for x in part["latencies"]]

    def ms(value: Callable[[list[float]], float]) -> float:
        return value(latencies) * 1000 if latencies else float("nan")

    return {
        "requests": len(latencies),
        "errors": sum(part["errors"] for part in parts),
        "first_error": next((part["error"] for part in parts if part["error"]), ""),
        "rps": sum(len(part["latencies"]) / part["elapsed"] for part in parts if part["elapsed"] > 0),
        "p50_ms": ms(lambda values: percentile(values, 50)),
        "p95_ms": ms(lambda values: percentile(values, 95)),
        "p99_ms": ms(lambda values: percentile(values, 99)),
        "mean_ms": ms(statistics.fmean),
    }


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]

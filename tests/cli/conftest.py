"""The command line against DLM running as it runs for people (gunicorn and a django-q2 worker on a
database of their own), shared by every test here: ``dlm`` runs as a separate process
(``python -m dlm_cli``), as a shell script would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.live_dlm import RunningDlm, dlm_running
from tests.storage_servers import s3_server  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    """``dlm`` for one user: a home directory of its own, the server in ``DLM_URL``."""

    server: RunningDlm
    home: Path
    token: str | None

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DLM_") and k != "DATABASE_URL"}
        env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"), PYTHONPATH=str(ROOT))
        env["DLM_URL"] = self.server.url
        if self.token:
            env["DLM_TOKEN"] = self.token
        env.update(extra)
        return env

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 120, **env: str) -> Run:
        done = subprocess.run(
            [sys.executable, "-m", "dlm_cli", *args],
            cwd=self.home,
            env=self.env(**env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        run = Run(done.returncode, done.stdout, done.stderr)
        # The token in use never shows, whatever the command printed.
        assert self.server.token not in run.out + run.err, args
        return run

    def ok(self, *args: str, **kw: Any) -> Any:
        """The JSON answer of a command that must succeed."""
        run = self("--json", *args, **kw)
        assert run.code == 0, (args, run.err)
        return run.json


@pytest.fixture(scope="session")
def cli_server(tmp_path_factory) -> Iterator[RunningDlm]:
    """DLM whose copies are slowed, so that a copy of a few MiB takes a second or more."""
    directory = tmp_path_factory.mktemp("cli-dlm")
    with dlm_running(directory, name="cli", env={"DLM_COPY_BWLIMIT": "4M"}) as running:
        yield running


@pytest.fixture(scope="session")
def dlm(cli_server, tmp_path_factory) -> Cli:
    home = tmp_path_factory.mktemp("cli-home")
    return Cli(cli_server, home, cli_server.token)


@dataclass
class Disks:
    src: Path  # the root of storage cli-src
    dst: Path  # the root of storage cli-dst


@pytest.fixture(scope="session")
def disks(dlm, tmp_path_factory) -> Disks:
    """Two storages on local directories, set up through the command line as a script would."""
    base = tmp_path_factory.mktemp("cli-disks")
    disks = Disks(base / "src", base / "dst")
    dlm.ok("storage", "init-location", "cli-loc", "local-dev", "--location-country", "AU")
    for name, root in (("cli-src", disks.src), ("cli-dst", disks.dst)):
        root.mkdir()
        dlm.ok("storage", "init-storage", name, "filesystem", "/", "posix", "--location-name", "cli-loc")
        config = base / f"{name}.json"
        config.write_text(json.dumps({"name": name, "type": "local", "root_path": str(root)}))
        dlm.ok("storage", "create-storage-config", f"@{config}", "--storage-name", name)
    return disks

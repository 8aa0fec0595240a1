"""The DLM under test: this checkout's DLM started as scripts/run starts it, on its own SQLite file
in the work directory, and prepared (migrated, bootstrapped, its local admin made)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
from pathlib import Path

from .common import DLM_ROOT, NO_PROXY, free_port, log, run


class Dlm:
    """This checkout's DLM (web + job worker, like scripts/run) on a fresh SQLite file."""

    def __init__(self, workdir: Path, extra_env: dict[str, str]) -> None:
        self.dir = workdir / "dlm"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        venv = Path(os.environ.get("DLM_VENV", DLM_ROOT / ".venv"))
        if not (venv / "bin" / "python").exists():
            run(["bash", "-c", f'source "{DLM_ROOT}/scripts/_venv.sh"'])
        self.python = str(venv / "bin" / "python")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DLM_")
            and k
            not in (
                "DATABASE_URL",
                "LOCATION_CONFIG",
                "STORAGE_CONFIG",
                "SSH_PUBLIC_KEY_PATH",
                "DJANGO_SETTINGS_MODULE",
            )
        }
        env.update(
            PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
            DATABASE_URL=f"sqlite:///{self.dir / 'dlm.sqlite3'}",
            DLM_VAR_DIR=str(self.dir / "var"),
            DLM_PORT=str(self.port),
            HOME=str(self.dir / "home"),  # nothing of the run's outside the work directory
        )
        env.update(extra_env)
        self.env = env
        (self.dir / "home").mkdir(exist_ok=True)
        self.procs: list[subprocess.Popen] = []

    def manage(self, *args: str, capture: bool = False) -> str:
        """Run ``manage.py *args`` against this DLM; its stdout when ``capture``."""
        result = subprocess.run(
            [self.python, "manage.py", *args],
            cwd=DLM_ROOT,
            env=self.env,
            check=True,
            text=True,
            stdout=subprocess.PIPE if capture else None,
        )
        return result.stdout or ""

    def prepare(
        self, locations: Path | None, storages: Path | None, admin_password: str | None = None
    ) -> tuple[str, str]:
        """Migrate, load the locations and storages, make the local admin as scripts/run does
        (with ``admin_password`` if given); an admin API token and the admin's password."""
        log(f"DLM in {self.dir} (SQLite), at {self.url}")
        self.manage("migrate", "--noinput", "-v", "0")
        if locations or storages:
            self.manage(
                "dlm_bootstrap",
                *(["--locations", str(locations)] if locations else []),
                *(["--storages", str(storages)] if storages else []),
            )
        var = Path(self.env["DLM_VAR_DIR"])
        var.mkdir(parents=True, exist_ok=True)
        if admin_password:
            # dlm_local_admin takes the local admin's password from var/admin_password.
            (var / "admin_password").write_text(admin_password)
            (var / "admin_password").chmod(0o600)
        self.manage("dlm_local_admin", "--url", self.url, capture=True)
        token = self.manage("create_api_token", "admin", "--role", "admin", capture=True).strip().splitlines()[-1]
        return token, (var / "admin_password").read_text().strip()

    def start(self) -> None:
        """Start gunicorn and a django-q2 worker; return once /heartbeat answers (exit if it never does)."""
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)
        for name, cmd in (
            ("qcluster", [self.python, "manage.py", "qcluster"]),
            (
                "gunicorn",
                [
                    str(Path(self.python).parent / "gunicorn"),
                    "dlm.wsgi",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "2",
                    "--access-logfile",
                    "-",
                    "--graceful-timeout",
                    "5",
                    "--control-socket",
                    str(self.dir / "gunicorn.ctl"),
                ],
            ),
        ):
            out = open(logs / f"{name}.log", "w")
            self.procs.append(
                subprocess.Popen(
                    cmd, cwd=DLM_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                with NO_PROXY.open(f"{self.url}/heartbeat", timeout=2) as response:
                    if response.status == 200:
                        log(f"DLM is up at {self.url} (logs in {logs})")
                        return
            except (urllib.error.URLError, OSError):
                pass
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"DLM did not start: see {logs}")

    def stop(self) -> None:
        """Stop both processes: SIGTERM, then SIGKILL after 15 s."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # the process group this script started
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

"""End-to-end tests in a real browser: Debian's chromium, driven by Selenium through chromedriver,
against DLM running as it runs for people — gunicorn and a django-q2 worker (``manage.py
qcluster``) in processes of their own, on a database of their own (a fresh PostgreSQL database
when ``DATABASE_URL`` names a PostgreSQL server, else a SQLite file).

``DLM_SCREENSHOTS=1`` also saves screenshots of the main pages under ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.storage_servers import _free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.e2e


@dataclass
class RunningDlm:
    url: str
    env: dict[str, str]
    admin: str
    password: str
    directory: Path
    log: Path

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        ).stdout


def _database_url(directory: Path) -> str:
    """A database for the server: a fresh PostgreSQL database next to the test database, or SQLite."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{directory / 'dlm.sqlite3'}"
    import psycopg

    server, _, _ = url.rpartition("/")
    name = f"dlm_e2e_{os.getpid()}"
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
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(5)


@pytest.fixture(scope="module")
def dlm_server(tmp_path_factory) -> Iterator[RunningDlm]:
    directory = tmp_path_factory.mktemp("dlm-e2e")
    database = _database_url(directory)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLM_") and k != "DATABASE_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="dlm.settings",
        DATABASE_URL=database,
        DLM_VAR_DIR=str(directory / "var"),
        DLM_DEBUG="true",
        DLM_WORKERS="2",
        DLM_UI_FIGURES_SECONDS="0",  # the dashboard shows what the test just did
        DLM_COPY_BWLIMIT="4M",  # a copy of a few MiB takes seconds: long enough to watch its progress
        PYTHONPATH=str(ROOT),
    )
    password = secrets.token_urlsafe(12)
    running = RunningDlm(f"http://127.0.0.1:{port}", env, "e2e-admin", password, directory, directory / "server.log")
    running.manage("migrate", "--noinput")
    running.manage("create_api_token", running.admin, "--role", "admin")
    running.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"u = User.objects.get(username='{running.admin}'); u.set_password('{password}'); u.save()",
    )
    processes: list[subprocess.Popen] = []
    with open(running.log, "w") as log:
        try:
            for command in (
                [sys.executable, "-m", "gunicorn", "dlm.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                 "--graceful-timeout", "2"],
                [sys.executable, "manage.py", "qcluster"],
            ):  # fmt: skip
                processes.append(
                    subprocess.Popen(
                        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
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


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--disable-gpu", "--password-store=basic"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def screenshots():
    """Save a screenshot of the browser's page as docs/screenshots/<name>.png, when asked to."""
    folder = ROOT / "docs" / "screenshots"

    def take(driver, name: str) -> None:
        if os.environ.get("DLM_SCREENSHOTS") != "1":
            return
        folder.mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return Math.min(document.body.scrollHeight, 2200)")
        driver.set_window_size(1280, max(700, height))
        driver.save_screenshot(str(folder / f"{name}.png"))
        driver.set_window_size(1280, 1000)

    return take

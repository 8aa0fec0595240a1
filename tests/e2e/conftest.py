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
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_dlm import RunningDlm, dlm_running

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dlm_server(tmp_path_factory) -> Iterator[RunningDlm]:
    """DLM with an admin who logs in with a password, its dashboard figures never cached and its
    copies slowed so that a copy of a few MiB takes seconds: long enough to watch its progress."""
    directory = tmp_path_factory.mktemp("dlm-e2e")
    env = {"DLM_UI_FIGURES_SECONDS": "0", "DLM_COPY_BWLIMIT": "4M"}
    with dlm_running(directory, name="e2e", env=env) as running:
        running.password = secrets.token_urlsafe(12)
        running.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User; "
            f"u = User.objects.get(username='{running.admin}'); u.set_password('{running.password}'); u.save()",
        )
        yield running


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

"""An operator's first session, in a real browser: log in, create a location, two storages and
their rclone configs, register a file, copy it, watch the copy's progress bar reach 100 % without
reloading, and find both copies on the item's page. The copy is made by the real worker."""

from __future__ import annotations

import os
import re
import time
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e

SIZE = 12 * 1024 * 1024  # at DLM_COPY_BWLIMIT=4M: about 3 s of copying to watch


def _by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def _fill(driver, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for name, value in values.items():
        field = driver.find_element(By.NAME, name)
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.clear()
            field.send_keys(value)


def _submit(driver, form_action: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f'form[action="{form_action}"] button[type="submit"]').click()


def _wait(driver, condition, timeout: float = 20, what: str = "the page"):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)
    except TimeoutException:
        page = driver.find_element(By.TAG_NAME, "body").text[:2000]
        raise AssertionError(f"waiting for {what} at {driver.current_url}; the page says:\n{page}") from None


def _heading(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "h1").text


def _messages(driver) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(element.text for element in driver.find_elements(By.CSS_SELECTOR, ".messages li, [role=alert]"))


def _add_storage(driver, base: str, location_id: str, name: str, root: str) -> str:
    driver.get(f"{base}/storages/new?location={location_id}")
    _fill(driver, {"storage_name": name, "storage_type": "filesystem", "storage_interface": "posix"})
    _submit(driver, "/storages/new")
    _wait(driver, lambda d: re.search(r"/storages/[0-9a-f-]{36}$", d.current_url), what=f"storage {name}")
    storage_url = driver.current_url
    driver.get(f"{storage_url}/configs/new")
    _fill(driver, {"name": name, "type": "local", "root_path": root})
    _submit(driver, driver.current_url.removeprefix(base))
    _wait(driver, lambda d: d.current_url.split("#")[0] == storage_url, what=f"the config of {name}")
    assert "rclone reached the remote" in _messages(driver)
    assert "local" in driver.page_source
    return storage_url


def test_an_operator_registers_copies_and_watches_a_file(dlm_server, browser, screenshots, tmp_path):
    from selenium.webdriver.common.by import By

    base, driver = dlm_server.url, browser
    source, destination = tmp_path / "src", tmp_path / "dst"
    source.mkdir()
    destination.mkdir()
    (source / "eb-001").mkdir()
    (source / "eb-001" / "vis.ms.tar").write_bytes(os.urandom(SIZE))

    # Log in with DLM's own form; the dashboard opens.
    driver.get(f"{base}/token_by_auth_flow")
    _wait(driver, lambda d: "/login" in d.current_url, what="the login form")
    screenshots(driver, "login")
    _fill(driver, {"username": dlm_server.admin, "password": dlm_server.password})
    _submit(driver, "/login")
    # The login form's own address ends in ?next=/token_by_auth_flow: wait for the token itself.
    _wait(
        driver,
        lambda d: urlsplit(d.current_url).path == "/token_by_auth_flow" and d.find_elements(By.ID, "token"),
        what="the token page",
    )
    token = _by_id(driver, "token").text
    assert re.fullmatch(r"[0-9a-f]{64}", token)

    # A location, two storages on local directories, each with its rclone remote (checked).
    driver.get(f"{base}/locations/new")
    _fill(driver, {"location_name": "e2e-site", "location_type": "local-dev"})
    _submit(driver, "/locations/new")
    _wait(driver, lambda d: re.search(r"/locations/[0-9a-f-]{36}$", d.current_url), what="the new location")
    location_id = driver.current_url.rsplit("/", 1)[1]
    _add_storage(driver, base, location_id, "e2e-src", str(source))
    dst_url = _add_storage(driver, base, location_id, "e2e-dst", str(destination))

    # Register the file that is already on the source storage.
    driver.get(f"{base}/items/register?storage=e2e-src")
    _fill(driver, {"item_name": "eb-001/vis.ms.tar", "uri": "eb-001/vis.ms.tar"})
    _submit(driver, "/items/register")
    _wait(driver, lambda d: re.search(r"/items/[0-9a-f-]{36}$", d.current_url), what="the item page")
    item_url = driver.current_url
    assert "Registered eb-001/vis.ms.tar" in _messages(driver)
    assert "12.0 MiB" in driver.page_source

    # Copy it to the other storage; the job's page opens and its bar fills without a reload.
    _fill(driver, {"destination_name": "e2e-dst"})
    _submit(driver, f"{item_url.removeprefix(base)}/copy")
    _wait(driver, lambda d: re.search(r"/jobs/\d+$", d.current_url), what="the job page")
    job_url = driver.current_url
    driver.execute_script("window.__samePage = true")  # gone if the page is loaded again
    seen: list[float] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if driver.execute_script("return window.__samePage === true"):
                value = driver.execute_script("var p = document.getElementById('job-progress'); return p && p.value;")
                if value is not None:
                    seen.append(float(value))
            if "Completed" in driver.find_element(By.CSS_SELECTOR, "h1 [data-cell=state]").text:
                break
        except Exception:  # the page is being reloaded once the job has finished
            pass
        if len(seen) == 12:
            screenshots(driver, "job-running")
        time.sleep(0.25)
    partial = [value for value in seen if 0 < value < 100]
    assert partial, f"no progress between 0 and 100 % was shown without a reload: {seen}"
    assert seen == sorted(seen)  # the bar only moves forward
    _wait(driver, lambda d: "Completed" in d.find_element(By.CSS_SELECTOR, "h1 [data-cell=state]").text,
          what="the completed job")  # fmt: skip
    assert driver.current_url == job_url
    assert float(driver.execute_script("return document.getElementById('job-progress').value")) == 100
    assert "12.0 MiB" in _by_id(driver, "job-figures").text
    screenshots(driver, "job")

    # The item page shows both copies, both verified.
    driver.get(item_url)
    rows = driver.find_elements(By.XPATH, "//h2[@id='copies-heading']/following::table[1]/tbody/tr")
    assert len(rows) == 2, [row.text for row in rows]
    storages = sorted(row.find_elements(By.TAG_NAME, "td")[2].text for row in rows)
    assert storages == ["e2e-dst", "e2e-src"]
    assert all("READY" in row.text for row in rows)
    assert (destination / "eb-001" / "vis.ms.tar").read_bytes() == (source / "eb-001" / "vis.ms.tar").read_bytes()
    screenshots(driver, "item")

    # Behind DLM's back the copy on e2e-dst goes, and a file nobody registered arrives. The
    # operator scans the storage from its integrity page: the scan runs in the worker, the page
    # follows it, the lost copy is repaired from e2e-src, and the dark file is registered.
    copied = destination / "eb-001" / "vis.ms.tar"
    original = (source / "eb-001" / "vis.ms.tar").read_bytes()
    copied.unlink()
    (destination / "stray.dat").write_bytes(b"nobody registered me")
    integrity_url = f"{dst_url}/integrity"
    driver.get(integrity_url)
    _submit(driver, f"{integrity_url.removeprefix(base)}/scan")
    _wait(driver, lambda d: "queued" in _messages(d), what="the scan queued")

    def scanned(d) -> bool:
        if "completed" not in d.find_element(By.ID, "scans").find_element(By.XPATH, "following::table[1]").text:
            d.get(integrity_url)  # the page reloads itself when the scan ends; this is a fallback
            return False
        return True

    _wait(driver, scanned, timeout=60, what="the completed scan")
    assert "0 matched · 1 lost · 0 mismatched · 1 dark" in driver.page_source
    _wait(driver, lambda d: copied.exists() and copied.read_bytes() == original, timeout=60, what="the repair")
    screenshots(driver, "storage-integrity")
    driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Select stray.dat"]').click()
    driver.find_element(By.CSS_SELECTOR, 'button[name="action"][value="register"]').click()
    _wait(driver, lambda d: "registered" in _messages(d).lower(), what="the registration")
    assert (destination / "stray.dat").read_bytes() == b"nobody registered me"  # never moved or deleted

    def both_ready(d) -> bool:
        d.get(item_url)
        rows = d.find_elements(By.XPATH, "//h2[@id='copies-heading']/following::table[1]/tbody/tr")
        return len(rows) == 2 and all("READY" in row.text for row in rows)

    _wait(driver, both_ready, timeout=60, what="the repaired copy READY on the item page")
    driver.get(integrity_url)  # repaired: no longer waiting for anyone
    assert "No lost or mismatched copy." in driver.page_source and "No dark file." in driver.page_source
    driver.find_element(By.LINK_TEXT, "Scan 1").click()
    assert "repaired: job" in driver.find_element(By.TAG_NAME, "main").text

    # The rest of the main pages, for the record (and each must render).
    for path, name in (("/", "dashboard"), ("/items", "items"), ("/jobs", "jobs"), (dst_url, "storage"),
                       ("/storages", "storages"), ("/integrity", "integrity"), ("/tokens", "tokens")):  # fmt: skip
        driver.get(path if path.startswith("http") else f"{base}{path}")
        assert "Server Error" not in driver.title and _heading(driver)
        screenshots(driver, name)
    driver.get(f"{base}/")
    assert "e2e-dst" in driver.page_source and "e2e-src" in driver.page_source

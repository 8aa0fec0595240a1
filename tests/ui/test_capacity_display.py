"""The capacity display: each storage's bar (READY and in-flight copies against its capacity),
flagged above the warn and high watermarks of the settings, with the free space its backend
reported and when; and the admin's view of it, with "Measure free space now"."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.core.cache import cache

from catalogue.capacity import RECENT_USE_KEY
from catalogue.models import Storage
from catalogue.services import storage_config_create
from tests.factories import make_item, make_storage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_figures():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def viewer(make_ui_client):
    return make_ui_client("viewer")


def _bar(html: str, name: str) -> str:
    found = re.search(rf'<div class="capacity([^"]*)" role="progressbar" aria-label="Use of {name}"[^>]*>', html)
    assert found, html
    return found.group(0)


def _cell(html: str, name: str) -> str:
    return re.search(rf'<a href="/storages/[^"]+">{name}</a>(.*?)</tr>', html, re.S).group(1)


def test_the_bar_counts_ready_and_in_flight_copies_and_the_dashboard_reuses_it_briefly(viewer, settings):
    settings.DLM_STORAGE_USE_CACHE_SECONDS = 10
    store = make_storage(storage_name="acacia", storage_capacity=4096)
    make_item(store, item_state="READY", item_size=1024)
    make_item(store, item_state="INITIALISED", item_size=1024)
    make_item(store, item_state="CORRUPTED", item_size=1024)
    first = viewer.get("/").content.decode()
    assert 'aria-valuenow="50"' in _bar(first, "acacia")
    assert "2.0 KiB of 4.0 KiB (50%)" in first
    assert "1.0 KiB of it on its way" in first
    assert "storage use at most 10 s old" in first

    make_item(store, item_state="READY", item_size=1024)
    assert "2.0 KiB of 4.0 KiB (50%)" in viewer.get("/").content.decode()  # summed under 10 s ago
    for page in ("/storages", f"/storages/{store.storage_id}"):  # the storage pages sum now
        assert "3.0 KiB of 4.0 KiB (75%)" in viewer.get(page).content.decode(), page

    cache.delete(RECENT_USE_KEY)  # as when the 10 s are over
    assert "3.0 KiB of 4.0 KiB (75%)" in viewer.get("/").content.decode()


def test_without_reuse_the_dashboard_sums_the_use_on_every_view(viewer, settings):
    settings.DLM_STORAGE_USE_CACHE_SECONDS = 0
    store = make_storage(storage_name="acacia", storage_capacity=4096)
    make_item(store, item_state="READY", item_size=1024)
    assert "1.0 KiB of 4.0 KiB (25%)" in viewer.get("/").content.decode()
    make_item(store, item_state="READY", item_size=1024)  # the item counts stay cached, the use does not
    assert "2.0 KiB of 4.0 KiB (50%)" in viewer.get("/").content.decode()


@pytest.mark.parametrize(
    ("used", "css", "flag"),
    [(700, "", None), (850, " warn", "above 80%"), (950, " full", "above 90%: takes no new copies")],
)
def test_the_bar_is_flagged_above_warn_and_high(viewer, used, css, flag):
    store = make_storage(storage_name="disk", storage_capacity=1000)
    make_item(store, item_state="READY", item_size=used)

    for page in ("/", "/storages", f"/storages/{store.storage_id}"):
        html = viewer.get(page).content.decode()
        assert f'class="capacity{css}"' in _bar(html, "disk")
        levels = re.findall(r'data-level="\w+">([^<]*)<', html)
        assert levels == ([flag] if flag else []), page


def test_the_watermarks_shown_are_the_settings(viewer, settings):
    settings.DLM_STORAGE_WARN_PCT, settings.DLM_STORAGE_HIGH_PCT = 50, 60.5
    store = make_storage(storage_name="disk", storage_capacity=1000)
    make_item(store, item_state="READY", item_size=610)

    html = viewer.get("/storages").content.decode()

    assert 'class="capacity full"' in _bar(html, "disk")
    assert "above 60.5%: takes no new copies" in _cell(html, "disk")


def test_the_measured_free_space_is_shown_with_its_time_or_why_there_is_none(viewer):
    at = datetime(2026, 5, 4, 3, 2, tzinfo=UTC)
    measured = make_storage(storage_name="measured", storage_capacity=10 * 1024**3)
    Storage.objects.filter(pk=measured.pk).update(
        storage_free_bytes=3 * 1024**3, storage_total_bytes=8 * 1024**3, storage_measured_at=at
    )
    s3 = make_storage(storage_name="s3")
    Storage.objects.filter(pk=s3.pk).update(
        storage_measured_at=at, storage_measure_error="the s3 backend does not report its space (rclone about)"
    )
    make_storage(storage_name="never")

    html = viewer.get("/storages").content.decode()

    assert "3.0 GiB free of 8.0 GiB (measured" in _cell(html, "measured")
    assert "2026-05-04 03:02 UTC" in _cell(html, "measured")
    assert "free space not reported by the backend" in _cell(html, "s3")
    assert "free" not in _cell(html, "never")
    detail = viewer.get(f"/storages/{s3.storage_id}").content.decode()
    assert "not reported: <code" in detail and "does not report its space (rclone about)" in detail
    assert "never measured" in viewer.get(f"/storages/{Storage.objects.get(storage_name='never').pk}").content.decode()


def test_the_admin_shows_the_use_and_measures_free_space_on_demand(make_ui_client, tmp_path):
    admin = make_ui_client("admin")
    disk = make_storage(storage_name="disk", storage_capacity=1000)
    config = {"name": "disk", "type": "local", "root_path": str(tmp_path)}
    storage_config_create(storage_id=disk.storage_id, config=config, check_remote=False)
    make_item(disk, item_state="READY", item_size=850)

    listing = admin.get("/admin/catalogue/storage/").content.decode()
    assert "85.0 % (850 B of 1000 B): warn" in listing
    assert "never measured" in listing

    response = admin.post(
        "/admin/catalogue/storage/", {"action": "measure_space", "_selected_action": [str(disk.pk)]}, follow=True
    )

    assert "disk: free space measured" in [str(m) for m in response.context["messages"]]
    disk.refresh_from_db()
    assert disk.storage_free_bytes > 0 and disk.storage_measured_at is not None
    assert float(disk.storage_use_pct) == 85.0
    change = admin.get(f"/admin/catalogue/storage/{disk.pk}/change/").content.decode()
    assert "free of" in change and "85.0 %" in change

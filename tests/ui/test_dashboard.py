"""The dashboard: items by state, storages' use and reachability, the last day's copy jobs, copies
whose uid expiry falls within a week (for information), and the latest failures with their reasons."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.utils import timezone

from catalogue.models import DataItem, Storage
from migrations_app.models import Migration
from migrations_app.states import JobState
from tests.factories import make_copy_job, make_item, make_storage


@pytest.fixture(autouse=True)
def fresh_figures():
    """The dashboard's figures are cached per process: each test starts without them."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def viewer(make_ui_client):
    return make_ui_client("viewer")


def job(source: Storage, destination: Storage, state: str, **fields) -> Migration:
    return make_copy_job(source, destination, state=state, **fields)


def count_of(html: str, label: str) -> int:
    """The number shown beside ``label`` in one of the dashboard's count lists."""
    label_tag = rf'(?:<span>|<a href="[^"]*">){re.escape(label)}</(?:span|a)>'
    match = re.search(rf'<li[^>]*>{label_tag} <span class="n">(\d+)</span></li>', html)
    assert match, f"no count for {label}"
    return int(match.group(1))


def big_figure(html: str, heading_id: str) -> int:
    match = re.search(rf'id="{heading_id}".*?<p class="big">(\d+)</p>', html, re.S)
    assert match, heading_id
    return int(match.group(1))


# --- who may see it ---------------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login_page_and_back(anon_client):
    response = anon_client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/"


def test_an_account_without_a_role_gets_403_naming_the_viewer_role(make_ui_client):
    response = make_ui_client(None).get("/")

    assert response.status_code == 403
    assert "viewer" in response.content.decode()


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_sees_the_dashboard(make_ui_client, role):
    response = make_ui_client(role).get("/")

    assert response.status_code == 200
    assert "<h1>Dashboard</h1>" in response.content.decode()


def test_the_dashboard_refuses_a_post(viewer):
    assert viewer.post("/").status_code == 405


# --- what it shows ----------------------------------------------------------------------------


def test_items_are_counted_by_state(viewer):
    store = make_storage()
    for _ in range(3):
        make_item(store, item_state="READY")
    for _ in range(2):
        make_item(store, item_state="CORRUPTED")
    make_item(store, item_state="DELETED")

    html = viewer.get("/").content.decode()

    assert count_of(html, "READY") == 3
    assert count_of(html, "CORRUPTED") == 2
    assert count_of(html, "DELETED") == 1
    assert count_of(html, "INITIALISED") == 0
    assert big_figure(html, "items-heading") == 6
    assert '<a href="/items?state=CORRUPTED">CORRUPTED</a>' in html  # the items list, filtered


def test_a_storage_shows_its_ready_bytes_against_its_capacity(viewer):
    full = make_storage(storage_name="acacia", storage_capacity=1000)
    make_item(full, item_state="READY", item_size=300)
    make_item(full, item_state="READY", item_size=200)
    make_item(full, item_state="DELETED", item_size=400)  # not on the storage any more: not counted

    html = viewer.get("/").content.decode()

    bar = re.search(r'<div class="capacity[^"]*" role="progressbar" aria-label="Use of acacia"[^>]*>', html)
    assert bar, html
    assert 'aria-valuenow="50"' in bar.group(0)
    assert 'aria-valuemin="0"' in bar.group(0) and 'aria-valuemax="100"' in bar.group(0)
    assert "500 B of 1000 B (50%)" in html


def test_a_storage_without_a_capacity_shows_it_as_unknown(viewer):
    store = make_storage(storage_name="scratch")
    make_item(store, item_state="READY", item_size=2048)

    html = viewer.get("/").content.decode()

    assert 'aria-label="Use of scratch"' not in html  # no bar without a capacity
    assert "2.0 KiB used" in html
    assert "capacity unknown" in html


def test_a_storage_past_its_capacity_is_flagged_and_its_bar_stops_at_full(viewer):
    store = make_storage(storage_name="tiny", storage_capacity=100)
    make_item(store, item_state="READY", item_size=150)

    html = viewer.get("/").content.decode()

    assert 'aria-valuenow="100"' in html
    assert "over capacity" in html


def test_reachability_shows_the_last_check_or_that_there_was_none(viewer):
    checked_at = timezone.now().replace(microsecond=0)
    up = make_storage(storage_name="up")
    down = make_storage(storage_name="down")
    make_storage(storage_name="never")
    Storage.objects.filter(pk=up.pk).update(storage_checked=True, storage_last_checked=checked_at)
    Storage.objects.filter(pk=down.pk).update(storage_checked=False, storage_last_checked=checked_at)

    html = viewer.get("/").content.decode()

    rows = {
        name: row for name, row in re.findall(r'<tr>\s*<td><a href="/storages/[^"]+">([^<]+)</a>(.*?)</tr>', html, re.S)
    }
    assert "✓ reachable" in rows["up"]
    assert f"{checked_at:%Y-%m-%d %H:%M} UTC" in rows["up"]
    assert "✗ unreachable" in rows["down"]
    assert "never checked" in rows["never"]
    assert "no rclone remote" in rows["never"]  # none of them has a remote definition


def test_copy_jobs_of_the_last_day_are_counted_by_state(viewer):
    a, b = make_storage(), make_storage()
    for _ in range(2):
        job(a, b, JobState.QUEUED)
    job(a, b, JobState.RUNNING)
    for _ in range(3):
        job(a, b, JobState.FAILED)
    job(a, b, JobState.FAILED, date=timezone.now() - timedelta(days=2))  # too old to count
    job(a, b, JobState.QUEUED, date=timezone.now() - timedelta(days=3))  # too old, but still waiting

    html = viewer.get("/").content.decode()

    assert count_of(html, "queued") == 2
    assert count_of(html, "running") == 1
    assert count_of(html, "failed") == 3
    assert count_of(html, "completed") == 0
    assert big_figure(html, "jobs-heading") == 6
    assert '<a href="/jobs?state=failed">failed</a>' in html
    assert "<strong>1</strong> older job still queued or running" in html


def test_the_latest_ten_failures_show_the_first_line_of_their_reason_and_link_to_the_job(viewer):
    a, b = make_storage(storage_name="src"), make_storage(storage_name="dst")
    now = timezone.now()
    failed = [
        job(a, b, JobState.FAILED, finished_at=now - timedelta(minutes=n), last_error=f"reason {n}\nTraceback line {n}")
        for n in range(12)
    ]
    job(a, b, JobState.COMPLETED, last_error="an earlier attempt failed")

    html = viewer.get("/").content.decode()
    section = html.split('id="failures-heading"')[1].split("</section>")[0]

    shown = [int(n) for n in re.findall(r'<a href="/jobs/(\d+)">', section)]
    assert shown == [j.migration_id for j in failed[:10]]  # newest failure first
    assert "reason 0" in section and "reason 9" in section
    assert "reason 10" not in section and "reason 11" not in section
    assert "Traceback" not in section
    assert "src → dst" in section
    assert "an earlier attempt failed" not in section


def test_without_failures_it_says_so(viewer):
    assert "No copy job has failed." in viewer.get("/").content.decode()


def test_copies_whose_uid_expiry_falls_within_a_week_are_counted_and_linked_to_the_items_list(viewer):
    store = make_storage()
    now = timezone.now()
    make_item(store, item_state="READY", uid_expiration=now + timedelta(days=2))
    make_item(store, item_state="INITIALISED", uid_expiration=now + timedelta(days=6))
    make_item(store, item_state="READY", uid_expiration=now + timedelta(days=10))  # later
    make_item(store, item_state="READY", uid_expiration=now - timedelta(days=1))  # already past
    make_item(store, item_state="DELETED", uid_expiration=now + timedelta(days=2))
    make_item(store, item_state="EXPIRED", uid_expiration=now + timedelta(days=2))
    make_item(store, item_state="READY", uid_expiration=now + timedelta(days=2), deleted=True)

    html = viewer.get("/").content.decode()

    assert big_figure(html, "expiring-heading") == 2
    assert '<h2 id="expiring-heading">uid expiry within 7 days</h2>' in html
    assert '<a href="/items?expires_within_days=7">These copies</a>' in html


def test_a_fresh_copy_counts_by_its_default_uid_expiry_and_the_card_says_nothing_acts_on_it(viewer, settings):
    settings.DLM_UID_EXPIRATION = timedelta(hours=36)
    make_item(make_storage(), item_state="READY")  # no uid_expiration given: now + 36 h

    html = viewer.get("/").content.decode()

    assert big_figure(html, "expiring-heading") == 1
    note = re.search(r'<p class="muted" id="expiring-note">(.*?)</p>', html, re.S)
    assert note, html
    text = re.sub(r"<[^>]+>", "", note.group(1))
    assert text.startswith("For information:")
    assert "uid_expiration is 36 h after it was made unless the client gives one (DLM_UID_EXPIRATION_HOURS)" in text
    assert "so fresh copies count here" in text
    assert "Past that date the lifecycle deletes a copy once its object can spare it" in text
    assert "Expiring within" not in html


def test_catalogue_figures_are_reused_for_a_while_and_say_when_they_were_taken(viewer):
    store = make_storage()
    make_item(store, item_state="READY")
    first = viewer.get("/").content.decode()
    as_of = re.search(r"Catalogue figures as of <time[^>]*>(\d\d:\d\d:\d\d) UTC</time>", first)
    assert as_of
    assert f"renewed at most every {django_settings.DLM_UI_FIGURES_SECONDS} s" in first

    make_item(store, item_state="READY")
    second = viewer.get("/").content.decode()
    assert count_of(second, "READY") == 1  # the cached figures
    assert as_of.group(0) in second

    cache.clear()  # as when they are DLM_UI_FIGURES_SECONDS old
    assert count_of(viewer.get("/").content.decode(), "READY") == 2


def test_the_dashboard_reads_a_fixed_number_of_queries_whatever_the_storages(viewer, django_assert_max_num_queries):
    for n in range(15):
        store = make_storage()
        make_item(store, item_state="READY", item_size=n)
    a, b = Storage.objects.all()[:2]
    for _ in range(12):
        job(a, b, JobState.FAILED, last_error="boom")

    with django_assert_max_num_queries(16):  # 12, the integrity tile's 3, the storages' use (not reused yet)
        response = viewer.get("/")

    assert response.status_code == 200
    assert DataItem.objects.count() == 15


def test_the_stylesheet_is_served_by_the_app(viewer):
    html = viewer.get("/").content.decode()
    href = re.search(r'<link rel="stylesheet" href="(/static/ui/places[^"]*\.css)">', html)
    assert href

    response = viewer.get(href.group(1))

    assert response.status_code == 200
    assert b".capacity" in b"".join(response.streaming_content)

"""The copy jobs' pages: the filtered list, a job's page with its live progress and its JSON
endpoint, and the operator's cancel and retry (the workers are not run here)."""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import Role
from accounts.tokens import account_ensure
from catalogue.models import DataItem, Storage
from core.units import human_size
from migrations_app import jobs as job_queue
from migrations_app.models import Migration
from migrations_app.states import JobState
from tests.factories import make_copy_job, make_item, make_storage
from ui.job_rows import human_duration
from ui.views.jobs import PAGE_SIZE

MiB = 1024 * 1024

REASON = (
    'rclone: failed to copy: Put "https://s3.example.org/bucket/obs/vis.ms": dial tcp 10.0.0.7:9000: '
    "connect: connection refused (the destination's S3 server did not answer)\n"
    "second line of the reason\n" + "x" * 300 + " end-of-the-reason"
)


@pytest.fixture
def viewer(make_ui_client) -> Client:
    return make_ui_client("viewer")


@pytest.fixture
def operator(make_ui_client) -> Client:
    return make_ui_client("operator")


@pytest.fixture
def storages(db) -> tuple[Storage, Storage, Storage]:
    return make_storage(storage_name="disk-a"), make_storage(storage_name="disk-b"), make_storage(storage_name="s3-c")


@pytest.fixture
def queued_tasks(monkeypatch) -> list:
    """What would be handed to django-q2, without queueing anything."""
    calls: list = []
    monkeypatch.setattr(job_queue, "async_task", lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


def _migration(source: Storage, destination: Storage, **fields) -> Migration:
    """A job between two storages, whose copies are not in the catalogue (queued by default)."""
    return make_copy_job(source, destination, **fields)


def _job_with_items(state: str, *, destination_state: str = "INITIALISED", **fields) -> Migration:
    """A job as the services leave it: a READY source copy and the destination copy exist."""
    src = make_storage(storage_name=f"src-{uuid.uuid4().hex[:6]}")
    dst = make_storage(storage_name=f"dst-{uuid.uuid4().hex[:6]}")
    source = make_item(src, item_name="obs/vis.ms", uri="obs/vis.ms", item_state="READY", item_size=1234)
    return make_copy_job(source, dst, state=state, copy={"item_state": destination_state}, **fields)


def _ids(response) -> list[int]:
    """The job ids of the list's rows, in page order."""
    return [int(n) for n in re.findall(r'<td><a href="/jobs/(\d+)">', response.content.decode())]


def _text(response) -> str:
    return response.content.decode()


# --- who may see and do what ------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login_page_and_back(anon_client, storages):
    a, b, _ = storages
    job = _migration(a, b)
    client = anon_client
    for url in ("/jobs", f"/jobs/{job.migration_id}", f"/jobs/{job.migration_id}/progress", "/jobs/progress"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/login?next={url}", response["Location"]
    response = client.post(f"/jobs/{job.migration_id}/cancel")
    assert response.status_code == 302 and response["Location"].startswith("/login?next=")
    job.refresh_from_db()
    assert job.state == JobState.QUEUED and not job.cancel_requested


def test_an_account_without_a_role_gets_403_naming_the_role(make_ui_client, storages):
    a, b, _ = storages
    job = _migration(a, b)
    client = make_ui_client(None)
    for url in ("/jobs", f"/jobs/{job.migration_id}", f"/jobs/{job.migration_id}/progress"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "viewer" in _text(response)


def test_a_viewer_sees_no_buttons_and_cannot_cancel_or_retry(viewer):
    running = _job_with_items(JobState.RUNNING)
    failed = _job_with_items(JobState.FAILED, destination_state="CORRUPTED", last_error=REASON, attempts=3)

    for job in (running, failed):
        page = _text(viewer.get(f"/jobs/{job.migration_id}"))
        assert "/cancel" not in page and "/retry" not in page
        assert "Cancel job" not in page and "Retry job" not in page

    assert viewer.post(f"/jobs/{running.migration_id}/cancel").status_code == 403
    assert viewer.post(f"/jobs/{failed.migration_id}/retry").status_code == 403
    running.refresh_from_db()
    failed.refresh_from_db()
    assert running.state == JobState.RUNNING and not running.cancel_requested
    assert failed.state == JobState.FAILED and failed.attempts == 3
    assert DataItem.objects.get(uid=failed.destination_uid).item_state == "CORRUPTED"


def test_an_operator_sees_cancel_on_an_active_job_and_retry_on_a_finished_one(operator):
    for state, shown, hidden in (
        (JobState.QUEUED, "Cancel job", "Retry job"),
        (JobState.RUNNING, "Cancel job", "Retry job"),
        (JobState.VERIFYING, "Cancel job", "Retry job"),
        (JobState.FAILED, "Retry job", "Cancel job"),
        (JobState.CANCELLED, "Retry job", "Cancel job"),
    ):
        job = _job_with_items(state)
        page = _text(operator.get(f"/jobs/{job.migration_id}"))
        assert shown in page and hidden not in page, state
        action = "cancel" if shown == "Cancel job" else "retry"
        assert f'<form method="post" action="/jobs/{job.migration_id}/{action}">' in page
        assert "csrfmiddlewaretoken" in page

    completed = _job_with_items(JobState.COMPLETED)
    page = _text(operator.get(f"/jobs/{completed.migration_id}"))
    assert "Cancel job" not in page and "Retry job" not in page


def test_cancel_and_retry_are_post_only_and_need_the_csrf_token(db):
    job = _job_with_items(JobState.QUEUED)
    user = account_ensure(username="csrf-operator", role=Role.OPERATOR)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    assert client.get(f"/jobs/{job.migration_id}/cancel").status_code == 405
    assert client.post(f"/jobs/{job.migration_id}/cancel").status_code == 403  # no CSRF token
    job.refresh_from_db()
    assert job.state == JobState.QUEUED

    page = client.get(f"/jobs/{job.migration_id}")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', _text(page)).group(1)
    response = client.post(f"/jobs/{job.migration_id}/cancel", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED


# --- cancel and retry -------------------------------------------------------------------------


def test_operator_cancels_a_queued_job_at_once(operator):
    job = _job_with_items(JobState.QUEUED)

    response = operator.post(f"/jobs/{job.migration_id}/cancel")

    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.migration_id}"
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED and job.cancel_requested and job.finished_at is not None
    assert DataItem.objects.get(uid=job.destination_uid).item_state == "CORRUPTED"
    page = _text(operator.get(response["Location"]))
    assert f"Copy job {job.migration_id} is cancelled." in page
    assert "Retry job" in page and "Cancel job" not in page


def test_operator_cancels_a_running_job_through_the_worker(operator):
    job = _job_with_items(JobState.RUNNING, bytes_done=100)

    response = operator.post(f"/jobs/{job.migration_id}/cancel", follow=True)

    assert response.status_code == 200
    job.refresh_from_db()
    assert job.state == JobState.RUNNING and job.cancel_requested and job.finished_at is None
    page = _text(response)
    assert "Cancel requested: the worker stops copy job" in page  # the success message
    assert "Cancel requested: the worker stops the copy at its next check." in page  # the job's note
    assert "Cancel job" not in page  # asked already


def test_cancelling_a_finished_job_shows_the_services_refusal(operator):
    job = _job_with_items(JobState.COMPLETED, complete=True)

    response = operator.post(f"/jobs/{job.migration_id}/cancel", follow=True)

    assert response.redirect_chain == [(f"/jobs/{job.migration_id}", 302)]
    page = _text(response)
    assert f"Migration {job.migration_id} is completed: only a queued or running job can be cancelled" in page
    assert 'class="error"' in page
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED and not job.cancel_requested


@pytest.mark.parametrize("state", [JobState.FAILED, JobState.CANCELLED])
def test_operator_retries_a_failed_or_cancelled_job(operator, state, django_capture_on_commit_callbacks):
    job = _job_with_items(state, destination_state="CORRUPTED", attempts=3, last_error=REASON, bytes_done=99)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = operator.post(f"/jobs/{job.migration_id}/retry")

    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.migration_id}"
    job.refresh_from_db()
    assert job.state == JobState.QUEUED and job.attempts == 0 and job.bytes_done == 0
    assert job.finished_at is None and not job.cancel_requested
    assert DataItem.objects.get(uid=job.destination_uid).item_state == "INITIALISED"
    assert len(callbacks) == 1  # handed to the workers when the request commits
    page = _text(operator.get(response["Location"]))
    assert f"Copy job {job.migration_id} is queued again." in page
    assert "Cancel job" in page


def test_a_refused_retry_shows_the_services_message(operator, queued_tasks):
    job = _job_with_items(JobState.FAILED, destination_state="CORRUPTED", last_error=REASON)
    DataItem.objects.filter(uid=job.source_uid).update(item_state="DELETED")

    page = _text(operator.post(f"/jobs/{job.migration_id}/retry", follow=True))

    assert f"The source copy {job.source_uid} is DELETED, not READY" in page
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert queued_tasks == []


def test_retrying_a_running_job_is_refused(operator, queued_tasks):
    job = _job_with_items(JobState.RUNNING)

    page = _text(operator.post(f"/jobs/{job.migration_id}/retry", follow=True))

    assert "is running: only a failed or cancelled job can be retried" in page
    assert Migration.objects.get(pk=job.pk).state == JobState.RUNNING


def test_cancel_or_retry_of_an_unknown_job_is_the_404_page(operator):
    for url in ("/jobs/999999/cancel", "/jobs/999999/retry", "/jobs/abc/cancel", "/jobs/²/retry"):
        response = operator.post(url)
        assert response.status_code == 404, url
        assert "No such copy job" in _text(response)


# --- the job page -----------------------------------------------------------------------------


def test_a_failed_job_page_shows_the_whole_reason_and_everything_about_it(viewer, storages):
    a, b, _ = storages
    started = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    job = _migration(
        a,
        b,
        state=JobState.FAILED,
        attempts=3,
        last_error=REASON,
        command="copy disk-a:obs/vis.ms -> disk-b:obs/vis.ms (file)",
        url="worker-7.example.org:4242",
        user="alice",
        job_id=17,
        started_at=started,
        heartbeat_at=started + timedelta(seconds=30),
        finished_at=started + timedelta(minutes=1),
        bytes_done=40 * MiB,
        bytes_total=100 * MiB,
        job_stats={"bytes": 40 * MiB, "totalBytes": 100 * MiB},
    )

    response = viewer.get(f"/jobs/{job.migration_id}")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = _text(response)
    assert f"Copy job {job.migration_id}" in page
    assert '<span class="job-state job-state-failed" data-cell="state">Failed</span>' in page
    assert "Failure reason" in page
    pre = re.search(r'<pre id="job-error" class="job-error">(.*?)</pre>', page, re.S).group(1)
    assert pre == REASON.replace('"', "&quot;").replace("'", "&#x27;")  # whole, escaped, not cut
    assert "copy disk-a:obs/vis.ms -&gt; disk-b:obs/vis.ms (file)" in page
    assert "worker-7.example.org:4242" in page
    assert "2026-03-04 05:06:07 UTC" in page and "2026-03-04 05:07:07 UTC" in page
    assert '<span id="job-attempts">3</span> of at most 3' in page
    assert "alice" in page and "17" in page
    assert f'href="/items?q={job.oid}"' in page
    assert f'href="/items/{job.source_uid}"' in page
    # A failed job's destination copy was removed with the failure: named, not linked.
    assert f'href="/items/{job.destination_uid}"' not in page
    removed = f'<code>{job.destination_uid}</code> <span class="muted">(removed from the catalogue when the job failed'
    assert removed in page
    assert f'href="/storages/{a.storage_id}"' in page and f'href="/storages/{b.storage_id}"' in page
    assert "40.0 MiB of 100.0 MiB (40%)" in page
    assert "rclone's last report" in page and "totalBytes" in page
    assert "data-progress-url" not in page  # finished: nothing to poll
    assert 'http-equiv="refresh"' not in page


def test_a_running_job_page_shows_live_figures_and_polls_its_endpoint(viewer, storages):
    a, b, _ = storages
    job = _migration(a, b, state=JobState.RUNNING, attempts=1, bytes_done=25 * MiB, bytes_total=100 * MiB, rate=5 * MiB)

    response = viewer.get(f"/jobs/{job.migration_id}")

    assert response.status_code == 200
    page = _text(response)
    assert '<script src="/static/ui/jobs.js" defer></script>' in page
    assert '<link rel="stylesheet" href="/static/ui/jobs.css">' in page
    assert f'data-progress-url="/jobs/{job.migration_id}/progress"' in page
    assert re.search(
        r'<progress id="job-progress" max="100" value="25"[^>]*aria-valuetext="25.0 MiB of 100.0 MiB', page
    )
    # 75 MiB left at 5 MiB/s: 15 s.
    assert "25.0 MiB of 100.0 MiB (25%) · 5.0 MiB/s · about 15 s left" in page
    assert '<p id="job-sentence" class="job-sentence" aria-live="polite">Copying: 20% done.</p>' in page
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page  # works without JavaScript
    assert '<section id="job-error-section" aria-labelledby="job-error-heading" hidden>' in page


def test_a_queued_job_with_an_earlier_failure_shows_it_as_the_last_error(viewer, storages):
    a, b, _ = storages
    job = _migration(a, b, state=JobState.QUEUED, attempts=1, last_error="rclone: timeout", bytes_total=None)
    job.next_attempt_at = timezone.now() + timedelta(minutes=2)
    job.save()

    page = _text(viewer.get(f"/jobs/{job.migration_id}"))

    assert "Last error" in page and "From an earlier attempt." in page and "rclone: timeout" in page
    assert "Queued for attempt 2: waiting for a worker." in page
    assert "Next attempt" in page
    assert '<progress id="job-progress" max="100" aria-labelledby' in page  # no total yet: indeterminate


@pytest.mark.parametrize("ref", ["999999", "abc", str(2**70), "0", "²", "١"])
def test_an_unknown_job_is_an_html_404_page(viewer, ref):
    response = viewer.get(f"/jobs/{ref}")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    page = _text(response)
    assert "No such copy job" in page and f"<code>{ref}</code>" in page
    assert 'href="/jobs"' in page


def test_the_jobs_script_and_stylesheet_are_served(viewer):
    for name, kind in (("jobs.js", "javascript"), ("jobs.css", "text/css")):
        response = viewer.get(f"/static/ui/{name}")
        assert response.status_code == 200, name
        assert kind in response["Content-Type"]
    script = b"".join(viewer.get("/static/ui/jobs.js").streaming_content).decode()
    assert "data-progress-url" in script and "window.location.reload()" in script


# --- the progress endpoint --------------------------------------------------------------------


def test_the_pages_give_their_script_the_states_of_each_phase(viewer, storages):
    a, b, _ = storages
    job = _migration(a, b, state=JobState.RUNNING)

    for url in ("/jobs", f"/jobs/{job.migration_id}"):
        page = viewer.get(url).content.decode()
        found = re.search(r'<script id="job-phases" type="application/json">(.*?)</script>', page)
        assert found, url
        assert json.loads(found.group(1)) == {
            "waiting": ["queued"],
            "copying": ["running"],
            "checking": ["verifying"],
            "succeeded": ["completed"],
        }


def test_the_progress_endpoint_answers_the_figures_uncached(viewer, storages):
    a, b, _ = storages
    job = _migration(
        a, b, state=JobState.RUNNING, attempts=2, bytes_done=30 * MiB, bytes_total=90 * MiB, rate=7 * MiB,
        last_error="attempt 1: connection reset",
    )  # fmt: skip

    response = viewer.get(f"/jobs/{job.migration_id}/progress")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "state": "running",
        "bytes_done": 30 * MiB,
        "bytes_total": 90 * MiB,
        "percent": 33.3,
        "rate": 7.0 * MiB,
        "eta_seconds": math.ceil(60 / 7),  # 60 MiB left at 7 MiB/s
        "attempts": 2,
        "last_error": "attempt 1: connection reset",
        "finished": False,
    }


def test_the_progress_endpoint_as_the_job_moves_on(viewer, storages):
    a, b, _ = storages
    job = _migration(a, b, state=JobState.QUEUED, bytes_total=None)
    url = f"/jobs/{job.migration_id}/progress"

    body = viewer.get(url).json()
    assert body["state"] == "queued" and body["percent"] is None and body["eta_seconds"] is None
    assert body["finished"] is False

    Migration.objects.filter(pk=job.pk).update(state=JobState.RUNNING, bytes_done=10, bytes_total=40, rate=0.0)
    body = viewer.get(url).json()
    assert body["percent"] == 25.0 and body["eta_seconds"] is None  # no rate yet: no ETA

    Migration.objects.filter(pk=job.pk).update(state=JobState.VERIFYING, bytes_done=40, rate=20.0)
    body = viewer.get(url).json()
    assert body["state"] == "verifying" and body["percent"] == 100.0 and body["eta_seconds"] is None

    Migration.objects.filter(pk=job.pk).update(
        state=JobState.FAILED, last_error="Verification failed: md5 differs", finished_at=timezone.now()
    )
    body = viewer.get(url).json()
    assert body["finished"] is True and body["last_error"] == "Verification failed: md5 differs"

    Migration.objects.filter(pk=job.pk).update(state=JobState.COMPLETED, bytes_done=0, bytes_total=None)
    body = viewer.get(url).json()
    assert body["finished"] is True and body["percent"] == 100.0


def test_the_progress_of_an_unknown_job_is_a_json_404(viewer):
    for ref in ("424242", "abc", "²"):
        response = viewer.get(f"/jobs/{ref}/progress")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}
        assert response["Cache-Control"] == "no-store"


def test_the_lists_progress_endpoint_answers_the_jobs_asked_for(viewer, storages):
    a, b, _ = storages
    running = _migration(a, b, state=JobState.RUNNING, bytes_done=1, bytes_total=4, rate=1.0)
    done = _migration(a, b, state=JobState.COMPLETED, bytes_done=4, bytes_total=4, finished_at=timezone.now())
    _migration(a, b, state=JobState.RUNNING)  # not asked for

    ids = [running.migration_id, done.migration_id, "x", "0", "²", str(2**70)]
    response = viewer.get("/jobs/progress", {"id": ids})

    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    answered = {row["migration_id"]: row for row in response.json()["jobs"]}
    assert set(answered) == {running.migration_id, done.migration_id}
    assert answered[running.migration_id]["percent"] == 25.0
    assert answered[running.migration_id]["eta_seconds"] == 3
    assert answered[done.migration_id]["finished"] is True
    assert answered[done.migration_id]["finished_at"] == done.finished_at.isoformat()


# --- the list ---------------------------------------------------------------------------------


def test_the_list_shows_jobs_newest_first_with_what_matters(viewer, storages):
    a, b, c = storages
    first = _migration(a, b, state=JobState.COMPLETED, bytes_done=MiB, bytes_total=MiB, finished_at=timezone.now())
    running = _migration(b, c, state=JobState.RUNNING, bytes_done=42, bytes_total=100, attempts=2, user="bob")
    failed = _migration(c, a, state=JobState.FAILED, last_error=REASON, attempts=3)

    response = viewer.get("/jobs")

    assert response.status_code == 200
    page = _text(response)
    assert _ids(response) == [failed.migration_id, running.migration_id, first.migration_id]
    assert '<div class="table-wrap">' in page
    assert f'href="/items?q={running.oid}"' in page and f'href="/items/{running.destination_uid}"' in page
    assert f'<a href="/storages/{b.storage_id}">disk-b</a>' in page
    assert f'<a href="/storages/{c.storage_id}">s3-c</a>' in page
    for label in ("Completed", "Running", "Failed"):
        assert f'data-cell="state">{label}</span>' in page
    assert re.search(r'<progress max="100" value="42" aria-label="Job \d+ progress"', page)
    assert '<span class="jobs-percent">42%</span>' in page
    assert "bob" in page
    # The last error: its first line, cut; never the rest.
    assert "rclone: failed to copy: Put &quot;https://s3.example.org/bucket/obs/vis.ms&quot;: dial tcp" in page
    assert "…</span>" in page
    assert "second line of the reason" not in page and "end-of-the-reason" not in page
    # Live rows: the running one only.
    assert 'data-progress-url="/jobs/progress"' in page
    assert f'<tr data-job-id="{running.migration_id}">' in page
    assert f'<tr data-job-id="{failed.migration_id}">' not in page
    assert '<script src="/static/ui/jobs.js" defer></script>' in page


def test_the_list_labels_its_filters(viewer):
    page = _text(viewer.get("/jobs"))
    for name in ("state", "storage", "user", "date_from", "date_to"):
        assert f'<label for="id_{name}">' in page and f'id="id_{name}" name="{name}"' in page
    assert "No copy jobs yet." in page
    assert "data-progress-url" not in page


def test_filter_by_state(viewer, storages):
    a, b, _ = storages
    failed = _migration(a, b, state=JobState.FAILED)
    _migration(a, b, state=JobState.COMPLETED)
    _migration(a, b, state=JobState.RUNNING)

    assert _ids(viewer.get("/jobs", {"state": "failed"})) == [failed.migration_id]
    assert viewer.get("/jobs", {"state": "nonsense"}).status_code == 400


def test_filter_by_storage_as_source_or_destination(viewer, storages):
    a, b, c = storages
    a_to_b = _migration(a, b)
    b_to_c = _migration(b, c)
    c_to_a = _migration(c, a)

    assert _ids(viewer.get("/jobs", {"storage": "disk-a"})) == [c_to_a.migration_id, a_to_b.migration_id]
    assert _ids(viewer.get("/jobs", {"storage": "s3-c"})) == [c_to_a.migration_id, b_to_c.migration_id]
    response = viewer.get("/jobs", {"storage": "nowhere"})
    assert response.status_code == 200 and _ids(response) == []
    assert "No storage is named &#x27;nowhere&#x27;." in _text(response)


def test_filter_by_user(viewer, storages):
    a, b, _ = storages
    alice = _migration(a, b, user="alice")
    _migration(a, b, user="bob")

    assert _ids(viewer.get("/jobs", {"user": "alice"})) == [alice.migration_id]
    assert _ids(viewer.get("/jobs", {"user": "carol"})) == []


def test_filter_by_creation_dates_inclusive(viewer, storages):
    a, b, _ = storages
    march_1 = _migration(a, b, date=datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
    march_2 = _migration(a, b, date=datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    march_3 = _migration(a, b, date=datetime(2026, 3, 3, 23, 59, 59, tzinfo=UTC))
    march_4 = _migration(a, b, date=datetime(2026, 3, 4, 0, 0, tzinfo=UTC))

    assert _ids(viewer.get("/jobs", {"date_from": "2026-03-02"})) == [
        march_4.migration_id,
        march_3.migration_id,
        march_2.migration_id,
    ]
    assert _ids(viewer.get("/jobs", {"date_to": "2026-03-01"})) == [march_1.migration_id]
    both = viewer.get("/jobs", {"date_from": "2026-03-02", "date_to": "2026-03-03"})
    assert _ids(both) == [march_3.migration_id, march_2.migration_id]


def test_bad_dates_are_shown_on_their_fields(viewer, storages):
    a, b, _ = storages
    _migration(a, b)

    response = viewer.get("/jobs", {"date_from": "2026-03-05", "date_to": "2026-03-01"})
    assert response.status_code == 400
    page = _text(response)
    assert "The end date is before the start date." in page and 'aria-invalid="true"' in page
    assert _ids(response) == []

    response = viewer.get("/jobs", {"date_from": "yesterday"})
    assert response.status_code == 400 and "Enter a valid date." in _text(response)

    # The widest dates a date input can send are filters like any other.
    assert viewer.get("/jobs", {"date_from": "0001-01-01", "date_to": "9999-12-31"}).status_code == 200


def test_filters_combine(viewer, storages):
    a, b, c = storages
    match = _migration(a, b, user="alice", state=JobState.FAILED, date=datetime(2026, 3, 2, tzinfo=UTC))
    _migration(a, b, user="alice", state=JobState.COMPLETED, date=datetime(2026, 3, 2, tzinfo=UTC))
    _migration(b, c, user="alice", state=JobState.FAILED, date=datetime(2026, 3, 2, tzinfo=UTC))
    _migration(a, b, user="bob", state=JobState.FAILED, date=datetime(2026, 3, 2, tzinfo=UTC))
    _migration(a, b, user="alice", state=JobState.FAILED, date=datetime(2026, 2, 2, tzinfo=UTC))

    params = {
        "state": "failed",
        "storage": "disk-a",
        "user": "alice",
        "date_from": "2026-03-01",
        "date_to": "2026-03-31",
    }
    response = viewer.get("/jobs", params)

    assert _ids(response) == [match.migration_id]
    page = _text(response)
    assert 'value="alice"' in page and 'value="disk-a"' in page and '<option value="failed" selected>' in page


def test_pages_in_a_stable_order_without_counting_the_table(viewer, storages, django_assert_max_num_queries):
    a, b, _ = storages
    for n in range(PAGE_SIZE + 5):
        _migration(a, b, state=JobState.RUNNING if n % 2 else JobState.COMPLETED, bytes_done=n, bytes_total=100)
    newest_first = list(Migration.objects.order_by("-migration_id").values_list("migration_id", flat=True))

    with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(8):
        first = viewer.get("/jobs", {"storage": "disk-b"})
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    assert _ids(first) == newest_first[:PAGE_SIZE]
    page = _text(first)
    assert 'href="?storage=disk-b&amp;page=2" rel="next"' in page and 'rel="prev"' not in page

    second = viewer.get("/jobs", {"storage": "disk-b", "page": 2})
    assert _ids(second) == newest_first[PAGE_SIZE:]
    page = _text(second)
    assert 'href="?storage=disk-b&amp;page=1" rel="prev"' in page and 'rel="next"' not in page

    assert _ids(viewer.get("/jobs", {"page": "nonsense"})) == newest_first[:PAGE_SIZE]
    assert _ids(viewer.get("/jobs", {"page": 10**9})) == []


# --- the figures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (100 * MiB, "100.0 MiB"), (3 * 1024**4, "3.0 TiB")],
)
def test_sizes_are_written_in_binary_units(n, text):
    assert human_size(n) == text


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (59, "59 s"), (61, "1 min 1 s"), (7322, "2 h 2 min")])
def test_durations_are_written_for_people(seconds, text):
    assert human_duration(seconds) == text

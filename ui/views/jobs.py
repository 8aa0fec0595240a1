"""Pages: the copy jobs. A filtered list, one job's page with its live progress (a small JSON
endpoint polled by ``ui/static/ui/jobs.js``), and the operator's cancel and retry, which call the
same services as the API's ``cancel_migration`` and ``retry_migration``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Role
from catalogue.models import DataItem, Storage
from catalogue.services.storages import storage_find
from core.errors import DataLifecycleError, ObjectNotFound
from migrations_app import selectors, services
from migrations_app.models import Migration
from migrations_app.states import ACTIVE, CANCELLABLE, FINISHED, RETRYABLE, SUCCEEDED, JobState
from ui.access import role_required
from ui.job_rows import PHASES, JobRow, Progress, job_row
from ui.paging import page_number, page_url

PAGE_SIZE = 50
MAX_WATCHED = 100  # jobs one list-progress request may ask about

# The list leaves out the large columns it never shows.
_LIST_DEFERRED = ("job_status", "job_stats", "command", "url")
_PROGRESS_FIELDS = (
    "migration_id",
    "state",
    "bytes_done",
    "bytes_total",
    "rate",
    "attempts",
    "last_error",
    "finished_at",
)


# --- the list ---------------------------------------------------------------------------------


class JobFilterForm(forms.Form):
    """The list's filters, all optional and combined."""

    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *JobState.choices])
    storage = forms.CharField(required=False, max_length=255)
    user = forms.CharField(required=False, max_length=255)
    date_from = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    date_to = forms.DateField(required=False, input_formats=["%Y-%m-%d"])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _filtered_jobs(data: dict[str, Any]) -> tuple[QuerySet, str]:
    """Jobs matching the cleaned filters (newest first), and a note when a filter names nothing.

    User, storage and the start date are ``query_migrations``'s own filters; the end date here is
    the creation date's (the API's ``end_date`` is a completion date, which unfinished jobs lack)."""
    storage_id = None
    if data["storage"]:
        storage = storage_find(storage_name=data["storage"])
        if storage is None:
            return Migration.objects.none(), f"No storage is named {data['storage']!r}."
        storage_id = storage.storage_id
    start = data["date_from"]
    jobs = selectors.migration_query(
        user=data["user"],
        start_date=start.isoformat() if start else None,
        storage_id=storage_id,
    )
    if data["state"]:
        jobs = jobs.filter(state=data["state"])
    if data["date_to"] and data["date_to"] < date.max:
        jobs = jobs.filter(date__lt=_midnight(data["date_to"] + timedelta(days=1)))
    jobs = jobs.select_related("source_storage", "destination_storage").defer(*_LIST_DEFERRED)
    return jobs.order_by("-migration_id"), ""


@never_cache
@require_GET
@role_required(Role.VIEWER)
def job_list(request: HttpRequest) -> HttpResponse:
    """Copy jobs, newest first, filtered by state, storage (source or destination), user and
    creation dates; one page at a time (the next page is known by reading one row more, not by
    counting the table)."""
    form = JobFilterForm(request.GET)  # every filter is optional: no parameters is valid
    valid = form.is_valid()
    number = page_number(request.GET.get("page"))
    rows: list[JobRow] = []
    note = ""
    has_next = False
    if valid:
        jobs, note = _filtered_jobs(form.cleaned_data)
        offset = (number - 1) * PAGE_SIZE
        found = list(jobs[offset : offset + PAGE_SIZE + 1])
        has_next = len(found) > PAGE_SIZE
        rows = [job_row(job) for job in found[:PAGE_SIZE]]
    context = {
        "form": form,
        "valid": valid,
        "rows": rows,
        "note": note,
        "page": number,
        "previous_url": page_url(request, "page", number - 1) if number > 1 else "",
        "next_url": page_url(request, "page", number + 1) if has_next else "",
        "filtered": any(request.GET.get(name) for name in JobFilterForm.base_fields),
        "storage_names": Storage.objects.order_by("storage_name").values_list("storage_name", flat=True)[:500],
        "watching": any(row.active for row in rows),
        "job_phases": PHASES,
    }
    return render(request, "ui/jobs/list.html", context, status=200 if valid else 400)


def _job_id(ref: str) -> int | None:
    """The job id a URL or parameter carries: ASCII digits, within a job id's range."""
    if not (ref.isascii() and ref.isdigit()):
        return None
    number = int(ref)
    return number if 1 <= number < 2**63 else None


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@role_required(Role.VIEWER)
def jobs_progress(request: HttpRequest) -> HttpResponse:
    """The progress of the jobs named by ``id`` (repeated; at most 100), for the list's live
    rows: ``{"jobs": [{"migration_id", "finished_at", …the job endpoint's keys}]}``."""
    ids = []
    for raw in request.GET.getlist("id")[:MAX_WATCHED]:
        migration_id = _job_id(raw)
        if migration_id is not None:
            ids.append(migration_id)
    jobs = Migration.objects.filter(migration_id__in=ids).only(*_PROGRESS_FIELDS).order_by("-migration_id")
    body = [
        {
            "migration_id": job.migration_id,
            **Progress.of(job).as_json(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        }
        for job in jobs
    ]
    return _no_store(JsonResponse({"jobs": body}))


# --- one job ----------------------------------------------------------------------------------


def _job(ref: str) -> Migration | None:
    """The job a URL names (None for anything that is not one of the jobs' ids)."""
    migration_id = _job_id(ref)
    if migration_id is None:
        return None
    jobs = selectors.migration_get(migration_id=migration_id)
    return jobs.select_related("source_storage", "destination_storage").first()


def _not_found(request: HttpRequest, ref: str) -> HttpResponse:
    return render(request, "ui/jobs/not_found.html", {"ref": ref}, status=404)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) if value not in (None, {}, []) else ""


@never_cache
@require_GET
@role_required(Role.VIEWER)
def job_detail(request: HttpRequest, ref: str) -> HttpResponse:
    """Everything about one job. While it is queued, running or verifying, the page polls its
    progress endpoint every second (and reloads once when the job finishes); without JavaScript
    it shows the figures of the moment and refreshes itself."""
    job = _job(ref)
    if job is None:
        return _not_found(request, ref)
    progress = Progress.of(job)
    context = {
        "job": job,
        "progress": progress,
        "active": job.state in ACTIVE,
        # A finished job that copied nothing has no progress worth a bar.
        "show_bar": job.state in ACTIVE or job.state in SUCCEEDED or job.bytes_done > 0,
        "can_cancel": job.state in CANCELLABLE and not job.cancel_requested,
        "can_retry": job.state in RETRYABLE,
        "max_attempts": settings.DLM_COPY_MAX_ATTEMPTS,
        "job_status": _pretty(job.job_status),
        "job_stats": _pretty(job.job_stats),
        "destination_exists": DataItem.objects.filter(uid=job.destination_uid).exists(),
        "job_phases": PHASES,
    }
    return render(request, "ui/jobs/detail.html", context)


@require_GET
@role_required(Role.VIEWER)
def job_progress(request: HttpRequest, ref: str) -> HttpResponse:
    """``{state, bytes_done, bytes_total, percent, rate, eta_seconds, attempts, last_error,
    finished}`` of one job, never cached; an unknown id is a JSON 404."""
    job = _job(ref)
    if job is None:
        return _no_store(JsonResponse({"detail": "Not Found"}, status=404))
    return _no_store(JsonResponse(Progress.of(job).as_json()))


def _act(request: HttpRequest, ref: str, action: str) -> HttpResponse:
    """Cancel or retry through the services the API uses; their refusal is shown as the API
    words it. POST, then back to the job's page."""
    migration_id = _job_id(ref)
    if migration_id is None:
        return _not_found(request, ref)
    try:
        if action == "cancel":
            job = services.copy_job_cancel(migration_id=migration_id)
        else:
            job = services.copy_job_retry(migration_id=migration_id)
    except ObjectNotFound:
        return _not_found(request, ref)
    except DataLifecycleError as exc:
        messages.error(request, exc.message)
        return redirect(f"/jobs/{migration_id}")
    if action == "retry":
        messages.success(request, f"Copy job {migration_id} is queued again.")
    elif job.state in FINISHED:
        messages.success(request, f"Copy job {migration_id} is cancelled.")
    else:
        messages.success(request, f"Cancel requested: the worker stops copy job {migration_id} at its next check.")
    return redirect(f"/jobs/{migration_id}")


@require_POST
@role_required(Role.OPERATOR)
def job_cancel(request: HttpRequest, ref: str) -> HttpResponse:
    """Cancel a queued, running or verifying job (``copy_job_cancel``)."""
    return _act(request, ref, "cancel")


@require_POST
@role_required(Role.OPERATOR)
def job_retry(request: HttpRequest, ref: str) -> HttpResponse:
    """Queue a failed or cancelled job again (``copy_job_retry``)."""
    return _act(request, ref, "retry")


urlpatterns = [
    path("jobs", job_list, name="jobs"),
    path("jobs/progress", jobs_progress, name="jobs_progress"),
    path("jobs/<str:ref>", job_detail, name="job"),
    path("jobs/<str:ref>/progress", job_progress, name="job_progress"),
    path("jobs/<str:ref>/cancel", job_cancel, name="job_cancel"),
    path("jobs/<str:ref>/retry", job_retry, name="job_retry"),
]

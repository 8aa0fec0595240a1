"""Pages: the dashboard — what is stored where, what is moving, what failed and why.

The catalogue's aggregate figures (items by state, bytes and items per storage, copies whose uid
expiry is near) cost a pass over ``data_item``; at a million rows that is too slow for every page view, so
they are computed at most every ``DLM_UI_FIGURES_SECONDS`` per process and shown with their time. The
copy jobs are read live: their queries use the ``state`` and ``date`` indexes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_safe

from accounts.roles import Role
from catalogue import capacity
from catalogue.choices import ConfigType, ItemState
from catalogue.models import DataItem, Storage, StorageConfig
from core.units import human_size
from lifecycle.models import Hold, LifecyclePass
from migrations_app.models import Deletion, Migration
from migrations_app.states import ACTIVE, FAILURES, JobState
from ui.access import role_required
from ui.integrity_figures import integrity_tile

FIGURES_KEY = "ui:catalogue-figures:v1"
EXPIRING_DAYS = 7
JOBS_HOURS = 24
LATEST_FAILURES = 10
# States of a copy that is neither expired nor deleted (the (item_state, uid_expiration) index
# serves a count over these states and an expiration range).
LIVE_STATES = (ItemState.INITIALISED, ItemState.READY, ItemState.CORRUPTED)


@dataclass(frozen=True)
class StorageFigures:
    """A storage's share of the catalogue: its copies, READY ones, and the bytes of those."""

    items: int = 0
    ready: int = 0
    ready_bytes: int = 0


def _figures_now() -> dict[str, Any]:
    now = timezone.now()
    # One pass over data_item gives the counts by state and each storage's copies and READY bytes.
    # The bytes need every READY row (no index holds item_size): at a million rows this is about
    # 0.35 s on PostgreSQL, hence the cache.
    rows = (
        DataItem.objects.order_by()
        .values_list("storage_id", "item_state")
        .annotate(n=Count("*"), size=Sum("item_size", filter=Q(item_state=ItemState.READY)))
    )
    states: dict[str | None, int] = {}
    storages: dict[str, dict[str, int]] = {}
    for storage_id, state, n, size in rows:
        states[state] = states.get(state, 0) + n
        if storage_id is None:
            continue
        entry = storages.setdefault(str(storage_id), {"items": 0, "ready": 0, "ready_bytes": 0})
        entry["items"] += n
        if state == ItemState.READY:
            entry["ready"] += n
            entry["ready_bytes"] += size or 0
    expiring = DataItem.objects.filter(
        item_state__in=LIVE_STATES, uid_expiration__gte=now, uid_expiration__lt=now + timedelta(days=EXPIRING_DAYS)
    )
    expiring = expiring.exclude(expired=True).exclude(deleted=True).count()
    return {"as_of": now, "states": states, "storages": storages, "expiring": expiring}


def catalogue_figures() -> dict[str, Any]:
    """Items by state, per-storage figures and the count of copies whose ``uid_expiration`` falls
    within ``EXPIRING_DAYS``, as of at most ``DLM_UI_FIGURES_SECONDS`` ago (``as_of`` says when)."""
    figures = cache.get(FIGURES_KEY)
    if figures is None:
        figures = _figures_now()
        cache.set(FIGURES_KEY, figures, settings.DLM_UI_FIGURES_SECONDS)
    return figures


def storage_figures(figures: dict[str, Any], storage: Storage) -> StorageFigures:
    """One storage's entry of ``catalogue_figures`` (zeros when it holds nothing)."""
    return StorageFigures(**figures["storages"].get(str(storage.pk), {}))


def storage_rows(
    storages: list[Storage], figures: dict[str, Any], uses: dict[Any, capacity.StorageUse] | None = None
) -> list[dict[str, Any]]:
    """What a table of storages shows of each: the storage, its figures (item counts, cached), and
    its use (``uses``, else now: ``catalogue.capacity``, READY and in-flight copies against its
    capacity, in one query for all the storages; ``pct`` None when the capacity is unknown), its
    level against the watermarks, and what its backend said of its space when last asked."""
    if uses is None:
        uses = capacity.storages_use(storages)
    rows = []
    for storage in storages:
        numbers = storage_figures(figures, storage)
        use = uses[storage.storage_id]
        rows.append(
            {
                "storage": storage,
                "figures": numbers,
                "use": use,
                "capacity": use.capacity,
                "capacity_text": human_size(use.capacity, unknown="—"),
                "capacity_exact": f"{use.capacity:,} bytes" if use.capacity else "",
                "used_text": human_size(use.used_bytes),
                "in_flight_text": human_size(use.in_flight_bytes) if use.in_flight_bytes else "",
                "pct": use.pct,
                "bar_pct": min(100.0, use.pct) if use.pct is not None else None,
                "level": use.level,
                "over": bool(use.capacity and use.used_bytes > use.capacity),
                "free_text": human_size(use.free_bytes, unknown=""),
                "total_text": human_size(use.total_bytes, unknown=""),
                "measured_at": use.measured_at,
                "measure_error": use.measure_error,
            }
        )
    return rows


def capacity_context() -> dict[str, float]:
    """The watermarks the capacity display names (``DLM_STORAGE_WARN_PCT``, ``DLM_STORAGE_HIGH_PCT``)."""
    return {"warn_pct": settings.DLM_STORAGE_WARN_PCT, "high_pct": settings.DLM_STORAGE_HIGH_PCT}


def storages_with_remote(storages: list[Storage]) -> set[uuid.UUID]:
    """The ids of those storages that have an rclone remote definition (the others cannot be
    reached by DLM at all)."""
    configs = StorageConfig.objects.filter(storage__in=[s.pk for s in storages], config_type=ConfigType.RCLONE)
    return set(configs.order_by().values_list("storage_id", flat=True).distinct())


def _job_counts(since: datetime) -> dict[str, Any]:
    recent = dict(Migration.objects.filter(date__gte=since).order_by().values_list("state").annotate(n=Count("*")))
    older_active = Migration.objects.filter(state__in=ACTIVE, date__lt=since).count()
    return {
        "states": [(state, recent.get(state, 0)) for state in JobState.values],
        "total": sum(recent.values()),
        "older_active": older_active,
    }


def _latest_failures() -> list[dict[str, Any]]:
    jobs = (
        Migration.objects.filter(state__in=FAILURES)
        .select_related("source_storage", "destination_storage")
        .only(
            "migration_id",
            "oid",
            "date",
            "finished_at",
            "attempts",
            "last_error",
            "source_storage__storage_name",
            "destination_storage__storage_name",
        )
        .order_by(F("finished_at").desc(nulls_last=True), "-migration_id")[:LATEST_FAILURES]
    )
    return [{"job": job, "reason": first_line(job.last_error)} for job in jobs]


def _lifecycle_figures() -> dict[str, Any]:
    """What the lifecycle holds back, its deletions under way and failed, and its last pass (not
    a dry run), in two queries: the deletions counted by state through the ``state`` index, the
    last pass with the count of holds (a pass makes them: with no pass there are none)."""
    by_state = dict(
        Deletion.objects.filter(state__in=ACTIVE + FAILURES).order_by().values_list("state").annotate(n=Count("*"))
    )
    held = RawSQL(f"SELECT COUNT(*) FROM {connection.ops.quote_name(Hold._meta.db_table)}", ())  # noqa: S611
    last = (
        LifecyclePass.objects.filter(dry_run=False)
        .only("pass_id", "started_at", "state")
        .annotate(held=held)
        .order_by("-pass_id")
        .first()
    )
    return {
        "held": last.held if last else 0,
        "deleting": sum(by_state.get(state, 0) for state in ACTIVE),
        "deletions_failed": sum(by_state.get(state, 0) for state in FAILURES),
        "last_pass": last,
    }


def first_line(text: str) -> str:
    """The first non-empty line of a message (a job's ``last_error``)."""
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


@require_safe
@role_required(Role.VIEWER)
def dashboard(request: HttpRequest) -> HttpResponse:
    """The catalogue at a glance: items by state, storages' use and reachability, copy jobs of the
    last day, copies whose uid expiry falls within a week, the lifecycle (what it holds back, its
    deletions, its last pass), and the latest failures with their reasons."""
    figures = catalogue_figures()
    states = figures["states"]
    storages = list(Storage.objects.select_related("location").order_by("storage_name"))
    context = {
        "figures": figures,
        "item_states": [(state, states.get(state, 0)) for state in ItemState.values],
        "no_state": states.get(None, 0),
        "item_total": sum(states.values()),
        "storage_rows": storage_rows(storages, figures, capacity.storages_use_recent(storages)),
        **capacity_context(),
        "configured": storages_with_remote(storages),
        "jobs": _job_counts(timezone.now() - timedelta(hours=JOBS_HOURS)),
        "jobs_hours": JOBS_HOURS,
        "failures": _latest_failures(),
        "lifecycle": _lifecycle_figures(),
        "integrity": integrity_tile(states),
        "expiring_days": EXPIRING_DAYS,
        "uid_expiration_hours": round(settings.DLM_UID_EXPIRATION.total_seconds() / 3600),
        "figures_seconds": settings.DLM_UI_FIGURES_SECONDS,
        "use_seconds": settings.DLM_STORAGE_USE_CACHE_SECONDS,
    }
    return render(request, "ui/dashboard.html", context)


urlpatterns = [path("", dashboard, name="dashboard")]

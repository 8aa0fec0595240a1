"""DLM's Prometheus metrics: what ``GET /metrics`` shows.

Two kinds, chosen by where the truth lives:

* Request metrics (``dlm_api_requests_total``, ``dlm_api_request_duration_seconds``) are counted
  in the web process that answers (``events.middleware``). Under gunicorn each worker is its own
  process, so with ``PROMETHEUS_MULTIPROC_DIR`` set (``scripts/run`` sets it) prometheus-client
  writes them to files there and a scrape adds up every worker's files (``MultiProcessCollector``).
* Everything else is read from the database at scrape time (``DatabaseCollector``): job states,
  bytes copied, the copy duration histogram, queues, the outbox, the lifecycle, heartbeats,
  storage use and integrity. Copies run in the django-q2 workers (another process tree than
  gunicorn's, possibly another machine), and the job rows are their record: a histogram computed
  from the completed jobs' ``started_at``/``finished_at`` is the same whichever web worker is
  scraped, needs no shared files between the web and the job workers, and survives restarts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db import DatabaseError, transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from catalogue.capacity import HIGH, OK, WARN, storages_use
from catalogue.choices import ItemState
from catalogue.models import DataItem, Storage
from integrity.models import Finding
from lifecycle.models import LifecyclePass, PassState
from migrations_app.models import Deletion, Migration
from migrations_app.states import JobState

# Seconds: a small file copies in about one, a large container in hours.
COPY_DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0)
API_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Kept out of prometheus-client's default registry: the scrape builds its own (see ``exposition``).
API_REQUESTS = Counter(
    "dlm_api_requests",
    "API requests answered, by contract operation, method and HTTP status.",
    ["operation", "method", "status"],
    registry=None,
)
API_LATENCY = Histogram(
    "dlm_api_request_duration_seconds",
    "Time to answer an API request, by contract operation.",
    ["operation"],
    buckets=API_LATENCY_BUCKETS,
    registry=None,
)


def observe_api_request(*, operation: str, method: str, status: int, seconds: float) -> None:
    """Count one answered contract operation and its latency."""
    API_REQUESTS.labels(operation=operation, method=method, status=str(status)).inc()
    API_LATENCY.labels(operation=operation).observe(seconds)


def multiprocess_dir() -> str:
    """The directory of prometheus-client's multi-process files, or "" (single process)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition() -> bytes:
    """Every metric, in the Prometheus text format: the request metrics of all web processes
    (or of this one) and the database's figures, read now."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(API_REQUESTS)
        registry.register(API_LATENCY)
    registry.register(DatabaseCollector())
    return generate_latest(registry)


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def _seconds(value) -> float:
    """A summed duration as seconds (a timedelta, or microseconds where the database says so)."""
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) / 1_000_000


def _states(model, family: GaugeMetricFamily) -> GaugeMetricFamily:
    counts = dict(model.objects.order_by().values_list("state").annotate(n=Count("pk")))
    for state in JobState.values:
        family.add_metric([state], counts.get(state, 0))
    return family


def job_metrics() -> Iterator[Metric]:
    """Copy and deletion jobs by state, bytes copied, and the duration of completed copies."""
    yield _states(Migration, GaugeMetricFamily("dlm_copy_jobs", "Copy jobs by state.", labels=["state"]))
    yield _states(Deletion, GaugeMetricFamily("dlm_deletion_jobs", "Deletion jobs by state.", labels=["state"]))
    completed = Migration.objects.filter(state=JobState.COMPLETED)
    copied = completed.aggregate(total=Sum("bytes_done"))["total"] or 0
    yield CounterMetricFamily("dlm_copied_bytes", "Bytes written by completed copy jobs.", value=copied)
    timed = (
        completed.filter(started_at__isnull=False, finished_at__isnull=False)
        .order_by()
        .annotate(took=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()))
    )
    buckets = {
        f"le{i}": Count("pk", filter=Q(took__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(COPY_DURATION_BUCKETS)
    }
    figures = timed.aggregate(n=Count("pk"), total=Sum("took"), **buckets)
    histogram = HistogramMetricFamily(
        "dlm_copy_duration_seconds", "Duration of completed copy jobs (their last attempt), in seconds."
    )
    histogram.add_metric(
        [],
        [(str(bound), figures[f"le{i}"]) for i, bound in enumerate(COPY_DURATION_BUCKETS)] + [("+Inf", figures["n"])],
        sum_value=_seconds(figures["total"]),
    )
    yield histogram


def queue_metrics(now: datetime) -> Iterator[Metric]:
    """django-q2's task queue, and the copy jobs due to start."""
    waiting = OrmQ.objects.filter(lock__lte=now).aggregate(n=Count("pk"), oldest=Min("lock"))
    taken = OrmQ.objects.filter(lock__gt=now).count()
    tasks = GaugeMetricFamily(
        "dlm_queue_tasks", "Tasks in the job queue: waiting, or taken by a worker.", labels=["state"]
    )
    tasks.add_metric(["waiting"], waiting["n"])
    tasks.add_metric(["taken"], taken)
    yield tasks
    yield GaugeMetricFamily(
        "dlm_queue_oldest_task_age_seconds",
        "Age of the oldest task waiting for a worker.",
        value=_age(now, waiting["oldest"]),
    )
    due = Migration.objects.filter(state=JobState.QUEUED).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    oldest = due.aggregate(since=Min(Coalesce("next_attempt_at", "date")))["since"]
    yield GaugeMetricFamily(
        "dlm_copy_jobs_oldest_queued_age_seconds",
        "How long the longest-waiting copy job due to start has waited (since it was asked for or its retry time).",
        value=_age(now, oldest),
    )


def outbox_metrics(now: datetime) -> Iterator[Metric]:
    """The outbox's backlog (pending events), its dead letters, and its oldest pending event.
    Nothing while the outbox's table is missing (a database not yet migrated)."""
    try:
        from core.models import OutboxEvent, OutboxState

        with transaction.atomic():  # a savepoint: a missing table must not break the scrape's transaction
            counts = dict(OutboxEvent.objects.order_by().values_list("state").annotate(n=Count("pk")))
            oldest = OutboxEvent.objects.filter(state=OutboxState.PENDING).aggregate(t=Min("created_at"))["t"]
    except (ImportError, DatabaseError):
        return
    events = GaugeMetricFamily("dlm_outbox_events", "Outbox events by state.", labels=["state"])
    for state in OutboxState.values:
        events.add_metric([state], counts.get(state, 0))
    yield events
    yield GaugeMetricFamily(
        "dlm_outbox_oldest_pending_age_seconds", "Age of the oldest event not yet relayed.", value=_age(now, oldest)
    )


def lifecycle_metrics() -> Iterator[Metric]:
    """Lifecycle passes by state; the last finished pass's duration, time and decisions."""
    passes = GaugeMetricFamily(
        "dlm_lifecycle_passes", "Lifecycle passes (dry runs excepted) by state.", labels=["state"]
    )
    counts = dict(LifecyclePass.objects.filter(dry_run=False).order_by().values_list("state").annotate(n=Count("pk")))
    for state in PassState.values:
        passes.add_metric([state], counts.get(state, 0))
    yield passes
    last = LifecyclePass.objects.filter(dry_run=False, state=PassState.FINISHED).order_by("-pass_id").first()
    yield GaugeMetricFamily(
        "dlm_lifecycle_pass_duration_seconds",
        "Duration of the last finished lifecycle pass.",
        value=(last.duration or 0.0) if last else 0.0,
    )
    finished = last.finished_at.timestamp() if last and last.finished_at else 0.0
    yield GaugeMetricFamily(
        "dlm_lifecycle_pass_finished_timestamp_seconds", "When the last lifecycle pass finished.", value=finished
    )
    decisions = GaugeMetricFamily(
        "dlm_lifecycle_decisions",
        "Decisions of the last finished lifecycle pass, by step and action.",
        labels=["step", "action"],
    )
    for step, actions in sorted((last.counts if last else {}).items()):
        if isinstance(actions, dict):
            for action, n in sorted(actions.items()):
                if isinstance(n, int | float):
                    decisions.add_metric([str(step), str(action)], n)
    yield decisions


def heartbeat_metrics(now: datetime) -> Iterator[Metric]:
    """Signs of life of the job workers (their newest finished task; periodic schedules make one
    at least every few minutes) and of the scheduler (how late its repeating schedules are)."""
    newest = Task.objects.aggregate(t=Max("stopped"))["t"]
    yield GaugeMetricFamily(
        "dlm_worker_last_task_timestamp_seconds",
        "When a job worker last finished a task (0: never).",
        value=newest.timestamp() if newest else 0.0,
    )
    repeating = Schedule.objects.exclude(schedule_type=Schedule.ONCE).exclude(repeats=0)
    due = repeating.aggregate(t=Min("next_run"))["t"]
    yield GaugeMetricFamily(
        "dlm_scheduler_overdue_seconds",
        "How far past its time the most overdue repeating schedule is (grows while no scheduler runs).",
        value=_age(now, due),
    )


def storage_metrics() -> Iterator[Metric]:
    """Each storage's use against its capacity, and its watermark level."""
    used = GaugeMetricFamily("dlm_storage_used_bytes", "Bytes of READY and INITIALISED copies.", labels=["storage"])
    capacity = GaugeMetricFamily(
        "dlm_storage_capacity_bytes", "The storage's capacity (when known).", labels=["storage"]
    )
    percent = GaugeMetricFamily(
        "dlm_storage_use_percent", "Use in percent of the capacity (when known).", labels=["storage"]
    )
    level = GaugeMetricFamily(
        "dlm_storage_use_level",
        "1 for the storage's level against the watermarks (ok, warn, high).",
        labels=["storage", "level"],
    )
    storages = list(Storage.objects.order_by("storage_name"))
    uses = storages_use(storages)
    for storage in storages:
        use = uses[storage.storage_id]
        name = storage.storage_name
        used.add_metric([name], use.used_bytes)
        if use.capacity is not None:
            capacity.add_metric([name], use.capacity)
        if use.pct is not None:
            percent.add_metric([name], use.pct)
        for each in (OK, WARN, HIGH):
            level.add_metric([name, each], 1 if use.level == each else 0)
    yield from (used, capacity, percent, level)


def integrity_metrics() -> Iterator[Metric]:
    """Corrupted copies by storage, and scan findings by kind and status."""
    corrupted = GaugeMetricFamily(
        "dlm_corrupted_copies", "Copies in the CORRUPTED state, by storage.", labels=["storage"]
    )
    rows = (
        DataItem.objects.filter(item_state=ItemState.CORRUPTED)
        .order_by()
        .values_list("storage__storage_name")
        .annotate(n=Count("pk"))
    )
    for name, n in sorted(rows, key=lambda row: str(row[0])):
        corrupted.add_metric([str(name)], n)
    yield corrupted
    findings = GaugeMetricFamily(
        "dlm_integrity_findings", "Consistency scan findings by kind and status.", labels=["kind", "status"]
    )
    for kind, status, n in sorted(Finding.objects.order_by().values_list("kind", "status").annotate(n=Count("pk"))):
        findings.add_metric([kind, status], n)
    yield findings


class DatabaseCollector(Collector):
    """The figures read from the database on each scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from job_metrics()
        yield from queue_metrics(now)
        yield from outbox_metrics(now)
        yield from lifecycle_metrics()
        yield from heartbeat_metrics(now)
        yield from storage_metrics()
        yield from integrity_metrics()

"""django-q2 task entry points of the integrity checks (thin: the work is in ``integrity.fixity``,
``integrity.scans`` and ``catalogue.capacity``). Each scheduled one sets its schedule's next run
from its setting when it ends."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule

from catalogue import capacity
from integrity import fixity, scans

FIXITY_TASK = "integrity.tasks.fixity_check_run"
SCAN_TASK = "integrity.tasks.scan_run"
FIXITY_SCHEDULE = "dlm-fixity"
SCANS_SCHEDULE = "dlm-scans"
MEASURE_SCHEDULE = "dlm-storage-measure"


def _next(name: str, seconds: int) -> None:
    Schedule.objects.filter(name=name).update(next_run=timezone.now() + timedelta(seconds=seconds))


def fixity_check_run(check_id: int) -> str:
    """One fixity check (queued by the schedule, a client or a scan): its end state."""
    return fixity.fixity_check_run(check_id)


def scan_run(scan_id: int) -> str:
    """One consistency scan, from where it stopped: its end state."""
    return scans.scan_run(scan_id)


def fixity_schedule_run() -> dict:
    """Queue this interval's share of the READY copies due a check (scheduled)."""
    result = fixity.fixity_schedule()
    _next(FIXITY_SCHEDULE, settings.DLM_FIXITY_INTERVAL)
    return result


def scans_due_run() -> dict:
    """Start a scan of each storage whose last one is older than ``DLM_SCAN_INTERVAL`` (scheduled;
    every hour at most)."""
    started = scans.scans_due() if settings.DLM_SCAN_INTERVAL else []
    _next(SCANS_SCHEDULE, min(settings.DLM_SCAN_INTERVAL or 3600, 3600))
    return {"scans": started}


def storages_measure_run() -> dict:
    """Ask each storage's backend for its free space, where it can tell (scheduled)."""
    result = capacity.storages_measure()
    _next(MEASURE_SCHEDULE, settings.DLM_STORAGE_MEASURE_INTERVAL)
    return result

"""django-q2 task entry points of the lifecycle (thin: the work is in ``lifecycle.engine``)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule

from lifecycle.engine import lifecycle_pass

PASS_TASK = "lifecycle.tasks.lifecycle_pass_run"
PASS_SCHEDULE = "dlm-lifecycle-pass"


def lifecycle_pass_run() -> dict:
    """One lifecycle pass (scheduled); then the next one is set ``DLM_LIFECYCLE_INTERVAL`` seconds
    from its end. Its counts, by step."""
    report = lifecycle_pass()
    next_run = timezone.now() + timedelta(seconds=settings.DLM_LIFECYCLE_INTERVAL)
    Schedule.objects.filter(name=PASS_SCHEDULE).update(next_run=next_run)
    return {"pass_id": report.pass_id, "state": report.state, "counts": report.counts_dict()}

"""After a failed attempt: another one later (exponential backoff, up to ``DLM_COPY_MAX_ATTEMPTS``)
or the job failed for good, its destination copy removed; and the recovery check that re-queues
the jobs a worker lost."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.models import OrmQ, Schedule
from django_q.tasks import schedule

from catalogue.choices import ItemState
from catalogue.models import DataItem
from core.actor import Auth, Via, acting
from migrations_app.jobs import COPY_TASK, copy_task_send
from migrations_app.models import Migration
from migrations_app.runner.claim import claim_fence, stale_before
from migrations_app.states import ACTIVE, WAITING, WORKING, JobState, ending, transition

log = logging.getLogger("dlm.copy")

RECOVER_TASK = "migrations_app.tasks.copy_jobs_recover"
RECOVER_SCHEDULE = "dlm-copy-jobs-recover"


def retry_delay(attempts: int) -> timedelta:
    """How long a job waits after its ``attempts``-th failed attempt: doubling from ``DLM_COPY_RETRY_DELAY``."""
    return timedelta(seconds=settings.DLM_COPY_RETRY_DELAY * 2 ** max(attempts - 1, 0))


def attempt_failed(migration: Migration, token: int, reason: str, *, permanent: bool = False) -> None:
    """Record that attempt ``token`` failed for ``reason``: the job is queued again for a later
    attempt, or fails for good after its last attempt or at once on a ``permanent`` error.
    Nothing is written once another worker has claimed the job."""
    now = timezone.now()
    if permanent or token >= settings.DLM_COPY_MAX_ATTEMPTS:
        _fail(migration, token, reason, now)
        why = "a permanent error" if permanent and token < settings.DLM_COPY_MAX_ATTEMPTS else f"{token} attempts"
        log.warning("copy job %s: failed after %s: %s", migration.pk, why, reason)
        return
    next_at = now + retry_delay(token)
    retrying = {"finished": False, "success": False, "error": reason}
    if transition(
        migration.pk,
        to=JobState.QUEUED,
        from_states=WORKING,
        fence=claim_fence(migration, token),
        last_error=reason,
        next_attempt_at=next_at,
        heartbeat_at=now,
        job_status=retrying,
    ):
        log.warning("copy job %s: attempt %s failed, retrying at %s: %s", migration.pk, token, next_at, reason)
        transaction.on_commit(lambda: _requeue(migration.pk, next_at, token))


def _fail(migration: Migration, token: int, reason: str, now: datetime) -> None:
    """End the job failed and remove its destination copy, in one transaction, both recorded in
    the audit trail as DLM's own doing. The copy stays (CORRUPTED) only where something else
    refers to it: an item registered under it, or another job copying from or to it."""
    with (
        transaction.atomic(),
        acting(username=migration.user, user_id=None, auth=Auth.SYSTEM, via=Via.WORKER, operation="copy_job_failed"),
    ):
        if not transition(
            migration.pk,
            to=JobState.FAILED,
            from_states=WORKING,
            fence=claim_fence(migration, token),
            last_error=reason,
            heartbeat_at=now,
            **ending(now=now, status=None, success=False, error=reason),
        ):
            return
        uid = migration.destination_uid
        copy = DataItem.objects.filter(uid=uid).exclude(item_state=ItemState.READY)
        others = Migration.objects.filter(Q(source_uid=uid) | Q(destination_uid=uid)).exclude(pk=migration.pk)
        if DataItem.objects.filter(parents=uid).exists() or others.filter(state__in=ACTIVE).exists():
            copy.update(item_state=ItemState.CORRUPTED)
            log.warning(
                "copy job %s: destination copy %s kept (CORRUPTED): other items or jobs refer to it", migration.pk, uid
            )
            return
        copy.delete()


def _requeue(migration_id: int, when: Any, attempt: int) -> None:
    if when <= timezone.now():
        copy_task_send(migration_id)
        return
    name = f"copy-{migration_id}-retry-{attempt}"
    Schedule.objects.filter(name=name).delete()  # a fired one of an earlier run of the job (names are unique)
    # repeats=-1: django-q2 deletes a ONCE schedule once it has fired.
    schedule(COPY_TASK, migration_id, name=name, schedule_type=Schedule.ONCE, next_run=when, repeats=-1)


# --- recovery -----------------------------------------------------------------------------------


def _pending_copy_tasks() -> set[int]:
    """The jobs with a copy task in the queue (waiting, or held by a worker)."""
    pending: set[int] = set()
    for task in OrmQ.objects.all():
        if task.task.get("func") == COPY_TASK and task.task.get("args"):
            pending.add(int(task.task["args"][0]))
    return pending


def copy_jobs_recover(*, enqueue: Callable[[int], Any] | None = None) -> list[int]:
    """Re-queue the jobs a worker lost: running or verifying with a heartbeat older than
    ``DLM_COPY_HEARTBEAT_LIMIT`` (its worker died), and queued jobs due for longer than that with
    no task in the queue (a task lost, or a retry schedule that did not fire). Their ids."""
    send = enqueue or copy_task_send
    stale = stale_before()
    dead = Migration.objects.filter(Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True), state__in=WORKING)
    waiting = Migration.objects.filter(state__in=WAITING).filter(
        Q(next_attempt_at__lt=stale) | Q(next_attempt_at__isnull=True, date__lt=stale)
    )
    ids = list(dead.values_list("pk", flat=True))
    waiting_ids = list(waiting.values_list("pk", flat=True))
    if waiting_ids:
        pending = _pending_copy_tasks()
        ids += [pk for pk in waiting_ids if pk not in pending]
    for pk in ids:
        log.warning("copy job %s: re-queued by the recovery check", pk)
        send(pk)
    return ids

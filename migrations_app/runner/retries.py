"""After a failed attempt: another one later (exponential backoff, up to ``DLM_COPY_MAX_ATTEMPTS``)
or the job failed for good (a copy job's destination copy removed); and the recovery check that
re-queues the jobs (copies and deletions) a worker lost."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.conf import Conf as QConf
from django_q.models import OrmQ, Schedule
from django_q.tasks import schedule

from catalogue.choices import ItemState
from catalogue.models import DataItem
from core.actor import Auth, Via, acting
from migrations_app.choices import JobOrigin
from migrations_app.events import migration_update
from migrations_app.jobs import COPY_TASK, DELETION_TASK, TASK_PREFIX, copy_task_send, deletion_task_send, task_send
from migrations_app.models import Deletion, Migration
from migrations_app.runner.claim import claim_fence, stale_before
from migrations_app.states import ACTIVE, WAITING, WORKING, JobState, ending, transition

log = logging.getLogger("dlm.copy")

RECOVER_TASK = "migrations_app.tasks.copy_jobs_recover"
RECOVER_SCHEDULE = "dlm-copy-jobs-recover"


def retry_delay(attempts: int) -> timedelta:
    """How long a job waits after its ``attempts``-th failed attempt: doubling from ``DLM_COPY_RETRY_DELAY``."""
    return timedelta(seconds=settings.DLM_COPY_RETRY_DELAY * 2 ** max(attempts - 1, 0))


def gives_up(token: int, *, permanent: bool) -> str | None:
    """Why a job fails for good after its attempt ``token`` failed (``permanent``: at once), or
    None when it is to be tried again later."""
    if permanent and token < settings.DLM_COPY_MAX_ATTEMPTS:
        return "a permanent error"
    if permanent or token >= settings.DLM_COPY_MAX_ATTEMPTS:
        return f"{token} attempts"
    return None


def retry_later(
    job: models.Model, token: int, reason: str, *, task: str, now: datetime, **fields: Any
) -> datetime | None:
    """Put the job back in the queue after its failed attempt ``token``: QUEUED with ``reason``
    as its last error (and ``fields``), its task sent again at the retry time once this commits.
    The retry time; None when another worker has claimed the job meanwhile (nothing written)."""
    next_at = now + retry_delay(token)
    if not transition(
        job.pk,
        to=JobState.QUEUED,
        from_states=WORKING,
        fence=claim_fence(job, token),
        model=type(job),
        last_error=reason,
        next_attempt_at=next_at,
        heartbeat_at=now,
        **fields,
    ):
        return None
    transaction.on_commit(lambda: _requeue(task, job.pk, next_at, token))
    return next_at


def attempt_failed(migration: Migration, token: int, reason: str, *, permanent: bool = False) -> None:
    """Record that attempt ``token`` failed for ``reason``: the job is queued again for a later
    attempt, or fails for good after its last attempt or at once on a ``permanent`` error.
    Nothing is written once another worker has claimed the job."""
    now = timezone.now()
    why = gives_up(token, permanent=permanent)
    if why:
        _fail(migration, token, reason, now)
        log.warning("copy job %s: failed after %s: %s", migration.pk, why, reason)
        return
    retrying = {"finished": False, "success": False, "error": reason}
    with transaction.atomic():
        next_at = retry_later(migration, token, reason, task=COPY_TASK, now=now, job_status=retrying)
        if next_at is not None:
            migration_update(migration.pk)
    if next_at is not None:
        log.warning("copy job %s: attempt %s failed, retrying at %s: %s", migration.pk, token, next_at, reason)


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
        migration_update(migration.pk)
        uid = migration.destination_uid
        copy = DataItem.objects.filter(uid=uid).exclude(item_state=ItemState.READY)
        if migration.origin == JobOrigin.REPAIR:  # the bad copy it was mending stays, flagged
            copy.update(item_state=ItemState.CORRUPTED)
            log.warning("copy job %s: the repair failed; copy %s stays CORRUPTED", migration.pk, uid)
            return
        others = Migration.objects.filter(Q(source_uid=uid) | Q(destination_uid=uid)).exclude(pk=migration.pk)
        if DataItem.objects.filter(parents=uid).exists() or others.filter(state__in=ACTIVE).exists():
            copy.update(item_state=ItemState.CORRUPTED)
            log.warning(
                "copy job %s: destination copy %s kept (CORRUPTED): other items or jobs refer to it", migration.pk, uid
            )
            return
        copy.delete()


def _requeue(task: str, job_id: int, when: Any, attempt: int) -> None:
    if when <= timezone.now():
        task_send(task, job_id)
        return
    name = f"{TASK_PREFIX[task]}-{job_id}-retry-{attempt}"
    Schedule.objects.filter(name=name).delete()  # a fired one of an earlier run of the job (names are unique)
    # repeats=-1: django-q2 deletes a ONCE schedule once it has fired.
    schedule(task, job_id, name=name, schedule_type=Schedule.ONCE, next_run=when, repeats=-1)


# --- recovery -----------------------------------------------------------------------------------


def _pending_tasks(func: str, stale: datetime) -> set[int]:
    """The jobs with a ``func`` task in the queue: waiting for a cluster, or taken by one since
    ``stale``. A task a cluster took before then, whose job is still queued, is one a cluster that
    died had taken ahead of its workers (django-q2 would deliver it again only after its ``retry``,
    a day by default): it does not count. (Sent again while a live cluster still holds it, the task
    runs twice; the second finds nothing to claim.)"""
    pending: set[int] = set()
    # django-q2's ORM broker keeps a waiting task's ``lock`` at or before now, and sets a taken
    # one's to the time it was taken plus its ``retry`` (when it would deliver it again).
    waiting = Q(lock__isnull=True) | Q(lock__lte=timezone.now())
    taken_since = Q(lock__gte=stale + timedelta(seconds=QConf.RETRY))
    for task in OrmQ.objects.filter(waiting | taken_since):
        if task.task.get("func") == func and task.task.get("args"):
            pending.add(int(task.task["args"][0]))
    return pending


def _lost(model: type[models.Model], func: str, send: Callable[[int], Any], kind: str) -> list[int]:
    stale = stale_before()
    dead = model.objects.filter(Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True), state__in=WORKING)
    waiting = model.objects.filter(state__in=WAITING).filter(
        Q(next_attempt_at__lt=stale) | Q(next_attempt_at__isnull=True, date__lt=stale)
    )
    ids = list(dead.values_list("pk", flat=True))
    waiting_ids = list(waiting.values_list("pk", flat=True))
    if waiting_ids:
        pending = _pending_tasks(func, stale)
        ids += [pk for pk in waiting_ids if pk not in pending]
    for pk in ids:
        log.warning("%s %s: re-queued by the recovery check", kind, pk)
        send(pk)
    return ids


def copy_jobs_recover(*, enqueue: Callable[[int], Any] | None = None) -> list[int]:
    """Re-queue the copy jobs a worker lost: running or verifying with a heartbeat older than
    ``DLM_COPY_HEARTBEAT_LIMIT`` (its worker died), and queued jobs due for longer than that with
    no task in the queue (a task lost, or a retry schedule that did not fire). Their ids."""
    return _lost(Migration, COPY_TASK, enqueue or copy_task_send, "copy job")


def deletion_jobs_recover(*, enqueue: Callable[[int], Any] | None = None) -> list[int]:
    """Re-queue the deletions a worker lost, as ``copy_jobs_recover`` does copies. Their ids."""
    return _lost(Deletion, DELETION_TASK, enqueue or deletion_task_send, "deletion")

"""Handing copy and deletion jobs to the django-q2 workers."""

from __future__ import annotations

from django.db import transaction
from django_q.tasks import async_task

COPY_TASK = "migrations_app.tasks.copy_job_run"
DELETION_TASK = "migrations_app.tasks.deletion_job_run"

# Each task's name prefix in django-q2's tables (``copy-12``, ``deletion-7``).
TASK_PREFIX = {COPY_TASK: "copy", DELETION_TASK: "deletion"}


def task_send(task: str, job_id: int) -> None:
    """Put ``task`` for the job in the queue now. Only the id travels (django-q2 pickles task
    arguments into its table). A task that ran is not kept as a django-q2 success row: the job's
    own row records what happened, and a task that crashed is still kept as a failure."""
    async_task(task, job_id, task_name=f"{TASK_PREFIX[task]}-{job_id}", save=False)


def copy_task_send(migration_id: int) -> None:
    """Put a copy task for the job in the queue now (see ``task_send``)."""
    task_send(COPY_TASK, migration_id)


def copy_job_enqueue(migration_id: int) -> None:
    """Queue the job for a worker once the current transaction commits."""
    transaction.on_commit(lambda: copy_task_send(migration_id))


def deletion_task_send(deletion_id: int) -> None:
    """Put a deletion task for the job in the queue now (see ``task_send``)."""
    task_send(DELETION_TASK, deletion_id)


def deletion_job_enqueue(deletion_id: int) -> None:
    """Queue the deletion for a worker once the current transaction commits (the caller's
    transaction, when it runs inside one)."""
    transaction.on_commit(lambda: deletion_task_send(deletion_id))


def jobs_enqueue_with(task: str, job_ids: list[int]) -> None:
    """Queue many jobs' tasks in the current transaction, so that they become visible to the
    workers when it commits, with the jobs. (The queue is django-q2's ORM broker in DLM's own
    database: a task inserted in the transaction is committed or rolled back with it. Sending
    them after the commit instead would cost a connection check and a commit per task.)"""
    for job_id in job_ids:
        task_send(task, job_id)

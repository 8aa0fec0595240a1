"""Handing copy jobs to the django-q2 workers."""

from __future__ import annotations

from django.db import transaction
from django_q.tasks import async_task

COPY_TASK = "migrations_app.tasks.copy_job_run"


def copy_task_send(migration_id: int) -> None:
    """Put a copy task for the job in the queue now. Only the id travels (django-q2 pickles task
    arguments into its table). A task that ran is not kept as a django-q2 success row: the job's
    own row records what happened, and a task that crashed is still kept as a failure."""
    async_task(COPY_TASK, migration_id, task_name=f"copy-{migration_id}", save=False)


def copy_job_enqueue(migration_id: int) -> None:
    """Queue the job for a worker once the current transaction commits."""
    transaction.on_commit(lambda: copy_task_send(migration_id))

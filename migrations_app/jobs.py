"""Handing copy jobs to the django-q2 workers."""

from __future__ import annotations

from django.db import transaction
from django_q.tasks import async_task

COPY_TASK = "migrations_app.tasks.copy_job_run"


def copy_job_enqueue(migration_id: int) -> None:
    """Queue the job for a worker once the current transaction commits. Only the id travels:
    django-q2 pickles task arguments into its table."""
    transaction.on_commit(lambda: async_task(COPY_TASK, migration_id, task_name=f"copy-{migration_id}"))

"""django-q2 task entry points for copy jobs (thin: the work is in ``migrations_app.runner``)."""

from __future__ import annotations

from migrations_app import runner


def copy_job_run(migration_id: int) -> str:
    """Run one attempt at copy job ``migration_id`` (does nothing if another worker has it)."""
    return runner.copy_job_run(migration_id)


def copy_jobs_recover() -> list[int]:
    """Re-queue copy jobs whose worker died or whose task was lost (scheduled every minute)."""
    return runner.copy_jobs_recover()

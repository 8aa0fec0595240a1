"""django-q2 task entry points for copy and deletion jobs (thin: the work is in ``migrations_app.runner``)."""

from __future__ import annotations

from migrations_app import runner


def copy_job_run(migration_id: int) -> str:
    """Run one attempt at copy job ``migration_id`` (does nothing if another worker has it)."""
    return runner.copy_job_run(migration_id)


def deletion_job_run(deletion_id: int) -> str:
    """Run one attempt at deletion ``deletion_id`` (does nothing if another worker has it)."""
    return runner.deletion_job_run(deletion_id)


def copy_jobs_recover() -> dict[str, list[int]]:
    """Re-queue the copy jobs and the deletions whose worker died or whose task was lost
    (scheduled every minute); their ids, by kind."""
    return {"copies": runner.copy_jobs_recover(), "deletions": runner.deletion_jobs_recover()}

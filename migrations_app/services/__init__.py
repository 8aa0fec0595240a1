"""Writes of the jobs: copy jobs (``copies``), repairs of bad copies by copy jobs (``repairs``)
and deletion jobs (``deletions``). Callers import from here."""

from migrations_app.services.copies import (
    CARRIED_OVER,
    copy_command,
    copy_job_cancel,
    copy_job_create,
    copy_job_retry,
)
from migrations_app.services.deletions import deletion_job_cancel, deletion_job_create, deletion_job_retry
from migrations_app.services.repairs import repair_job_create

__all__ = [
    "CARRIED_OVER",
    "copy_command",
    "copy_job_cancel",
    "copy_job_create",
    "copy_job_retry",
    "deletion_job_cancel",
    "deletion_job_create",
    "deletion_job_retry",
    "repair_job_create",
]

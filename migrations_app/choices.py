"""States of a copy job."""

from __future__ import annotations

from django.db import models


class JobState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.VERIFYING)
FINAL_STATES = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)

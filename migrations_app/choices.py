"""The values of the jobs' enumerated columns besides their state (``migrations_app.states``)."""

from __future__ import annotations

from django.db import models


class JobOrigin(models.TextChoices):
    """Who asked for a job: a client (the API, the web UI, the admin), DLM's lifecycle engine
    (a placement rule's copy, an expired copy's deletion), or DLM's integrity checks (a copy found
    corrupted or lost, copied again from a good one)."""

    CLIENT = "client"
    LIFECYCLE = "lifecycle"
    REPAIR = "repair"

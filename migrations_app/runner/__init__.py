"""The copy job runner: what a worker does with a ``Migration`` row.

A job is claimed with a conditional update (so a second delivery of the same task does nothing:
``claim``), copied by this process's rclone daemon while its progress and a heartbeat are written
to the row (``copying``), then verified against what the catalogue recorded for the source
(``verify``). Only a verified copy makes the destination item READY. A failed attempt is retried
later, with exponential backoff, up to ``DLM_COPY_MAX_ATTEMPTS``, unless rclone's error is
permanent (permission denied, a missing bucket, refused credentials…: ``rclone.error_is_permanent``),
which fails the job at once (``retries``). A failed job's destination item is removed in the
transaction that fails the job, as upstream does, so that a client polling the job until
``job_status.finished`` then finds no such uid. A job whose worker died (its heartbeat stopped)
is re-queued by ``copy_jobs_recover``, which runs every minute; the new attempt copies again, and
rclone skips what is already there and identical. Every change of the job's state is a move of
``migrations_app.states``.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from catalogue.choices import ItemState
from catalogue.models import DataItem
from catalogue.phases import objects_lock, oid_phases_refresh
from core import rclone
from core.crypto import SecretDecryptionError
from core.errors import UnmetPreconditionForOperation
from migrations_app.events import migration_update
from migrations_app.models import Migration
from migrations_app.runner import copying, verify
from migrations_app.runner.claim import (
    Attempt,
    Cancelled,
    CopyFailed,
    LostClaim,
    claim_fence,
    copy_job_claim,
    worker_name,
)
from migrations_app.runner.deleting import deletion_job_claim, deletion_job_run
from migrations_app.runner.retries import attempt_failed, copy_jobs_recover, deletion_jobs_recover, retry_delay
from migrations_app.states import WORKING, JobState, ending, transition

__all__ = [
    "CopyFailed",
    "after_copy",
    "copy_job_claim",
    "copy_job_run",
    "copy_jobs_recover",
    "deletion_job_claim",
    "deletion_job_run",
    "deletion_jobs_recover",
    "retry_delay",
    "worker_name",
]

log = logging.getLogger("dlm.copy")


def after_copy(attempt: Attempt) -> None:
    """Called between the copy and its verification. Does nothing: a test hook, so that a test can
    damage the destination's bytes and watch the verification catch it."""


def copy_job_run(migration_id: int) -> str:
    """Run one attempt at a copy job, if it can be claimed; the job's state afterwards (or
    ``"not claimed"``). Never raises for a failed copy: the row records it."""
    migration = copy_job_claim(migration_id)
    if migration is None:
        log.info("copy job %s: not claimed (finished, waiting for a retry, or running elsewhere)", migration_id)
        return "not claimed"
    token = migration.attempts
    secrets: list[str] = []
    attempt: Attempt | None = None
    try:
        attempt = copying.prepare(migration, token)
        secrets = attempt.secrets
        if migration.cancel_requested:
            raise Cancelled
        copying.copy(attempt)
        _verify_phase(attempt)
        _complete(attempt)
    except LostClaim:
        log.warning("copy job %s: attempt %s lost its claim (another worker took over)", migration_id, token)
        return "lost claim"
    except Cancelled:
        _cancel(migration, token, attempt)
    except Exception as exc:
        permanent = False
        if isinstance(exc, CopyFailed | rclone.RcloneError):
            reason, permanent = str(exc), exc.permanent
        elif isinstance(exc, UnmetPreconditionForOperation | SecretDecryptionError):
            reason, permanent = str(exc), True  # a storage's config is missing or unreadable
        else:
            log.exception("copy job %s: attempt %s failed unexpectedly", migration_id, token)
            reason = f"{type(exc).__name__}: {exc}"
        attempt_failed(migration, token, rclone.mask(reason, secrets), permanent=permanent)
    return Migration.objects.filter(pk=migration_id).values_list("state", flat=True).first() or "gone"


def _verify_phase(attempt: Attempt) -> None:
    with transaction.atomic():
        moved = transition(
            attempt.migration.pk,
            to=JobState.VERIFYING,
            fence=attempt.fence,
            heartbeat_at=timezone.now(),
            **(attempt.progress or {}),
        )
        if moved:
            migration_update(attempt.migration.pk)
    if not moved:
        raise LostClaim
    after_copy(attempt)
    verify.verify(attempt)


def _complete(attempt: Attempt) -> None:
    now = timezone.now()
    with transaction.atomic():
        objects_lock([attempt.destination.oid])  # the object's rows, in the order every writer keeps
        if not transition(
            attempt.migration.pk,
            to=JobState.COMPLETED,
            fence=attempt.fence,
            heartbeat_at=now,
            last_error="",
            next_attempt_at=None,
            **ending(now=now, status=attempt.status, success=True, error=""),
        ):
            raise LostClaim
        DataItem.objects.filter(uid=attempt.destination.uid).update(
            item_state=ItemState.READY, last_check=now, last_verified_at=now
        )  # its bytes were verified just now: the fixity schedule counts from here
        oid_phases_refresh([attempt.destination.oid])  # one more READY copy counts toward the object's phase
        migration_update(attempt.migration.pk)
    if attempt.progress is None:  # the copy ran as a job, whose figures the daemon keeps
        rclone.stats_delete(attempt.group)
    log.info("copy job %s: completed and verified", attempt.migration.pk)


def _cancel(migration: Migration, token: int, attempt: Attempt | None) -> None:
    # A cancelled file's partial copy is removed. A tree's destination directory is left as it is:
    # the files copied so far are whole copies of the source's, and it may hold files not ours.
    if attempt is not None and not attempt.tree:
        try:
            rclone.remove(attempt.dst_config, attempt.dst_path)
        except rclone.RcloneError as exc:
            log.warning("copy job %s: could not remove the partial copy: %s", migration.pk, exc)
    now = timezone.now()
    with transaction.atomic():
        cancelled = transition(
            migration.pk,
            to=JobState.CANCELLED,
            from_states=WORKING,
            fence=claim_fence(migration, token),
            heartbeat_at=now,
            last_error="Cancelled",
            **ending(now=now, status=attempt.status if attempt else None, success=False, error="Cancelled"),
        )
        if not cancelled:  # another worker holds the job now: its copy is not ours to judge
            log.warning("copy job %s: attempt %s lost its claim before it was cancelled", migration.pk, token)
            return
        DataItem.objects.filter(uid=migration.destination_uid).update(item_state=ItemState.CORRUPTED)
        migration_update(migration.pk)
    log.info("copy job %s: cancelled", migration.pk)

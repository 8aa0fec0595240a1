"""Taking a job (a copy or a deletion) for this worker, and keeping it: the claim, the attempt it
gives, and the polling of rclone's jobs that writes the heartbeat (and a copy's progress) while
the attempt works."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Protocol

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from catalogue.models import DataItem
from core import rclone
from migrations_app.events import migration_update
from migrations_app.models import Migration
from migrations_app.states import CLAIMABLE, WAITING, WORKING, JobState, attempt_times, fresh_attempt, transition

# Polling of a running rclone job: fast at first (a small file is done in milliseconds), then
# doubling up to four times a second, so that progress and the heartbeat stay fresh.
FIRST_POLL, MAX_POLL = 0.02, 0.25  # seconds
PROGRESS_EVENT_EVERY = 1.0  # seconds: at most one dlm.migration.update per job per second of progress


class AttemptFailed(Exception):
    """An attempt failed; the message (rclone's reason, secrets masked) goes to ``last_error``.
    ``permanent``: another attempt cannot succeed (the job fails at once)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


CopyFailed = AttemptFailed  # the copy runner's name for it


class Cancelled(Exception):
    """A cancel was asked for: the attempt stops and the job ends cancelled."""


class LostClaim(Exception):
    """Another worker has taken the job over: this attempt stops and writes nothing more."""


@dataclass
class Attempt:
    """One claimed attempt at a job, with what it needs to talk to rclone."""

    migration: Migration
    token: int  # the attempt number we claimed; a heartbeat only lands while it is still ours
    source: DataItem
    destination: DataItem
    src_config: dict[str, Any]
    dst_config: dict[str, Any]
    src_path: str
    dst_path: str
    tree: bool
    secrets: list[str]
    progress: dict[str, Any] | None = None  # set by a copy that had no job to report it
    status: dict[str, Any] | None = None  # rclone's last job status of the copy
    cancellable: ClassVar[bool] = True  # a running copy stops on a cancel request

    @property
    def group(self) -> str:
        """rclone's statistics group of the attempt's copy."""
        return f"copy-{self.migration.pk}"

    @property
    def fence(self) -> Q:
        """The rows still this attempt's: no other worker has claimed the job since."""
        return claim_fence(self.migration, self.token)

    def mine(self) -> QuerySet:
        """The job's row, while it is still this attempt's (empty once another worker took it)."""
        return Migration.objects.filter(self.fence, pk=self.migration.pk)


class Held(Protocol):
    """What polling an rclone job needs of a claimed attempt (a copy's or a deletion's)."""

    secrets: list[str]
    status: dict[str, Any] | None
    cancellable: ClassVar[bool]

    def mine(self) -> QuerySet: ...


def claim_fence(job: models.Model, token: int) -> Q:
    """The job (a ``Migration`` or a ``Deletion``) as claimed for attempt ``token`` by this worker
    (``job`` as read after the claim)."""
    return Q(attempts=token, url=job.url)


def worker_name() -> str:
    """Where an attempt runs: host name and process id (the row's ``url``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def stale_before() -> Any:
    """Heartbeats older than this are a dead worker's."""
    return timezone.now() - timedelta(seconds=settings.DLM_COPY_HEARTBEAT_LIMIT)


def job_claim(model: type[models.Model], pk: int, /, **fields: Any) -> bool:
    """Take job ``pk`` of ``model`` for this worker (one conditional update: of two workers,
    one wins): a queued job whose retry time has come, or a running or verifying job whose
    heartbeat is stale (its worker died). Sets ``fields`` besides the claim's own columns. False
    when it is not to be taken (another worker runs it, it is finished, or it does not exist)."""
    now = timezone.now()
    due = Q(state__in=WAITING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    dead = Q(state__in=WORKING) & (Q(heartbeat_at__lt=stale_before()) | Q(heartbeat_at__isnull=True))
    return transition(
        pk,
        to=JobState.RUNNING,
        from_states=CLAIMABLE,
        fence=(due | dead) & Q(complete=False),
        model=model,
        attempts=F("attempts") + 1,
        url=worker_name(),
        job_id=0,
        **{**attempt_times(started=now), **fields},
    )


def copy_job_claim(migration_id: int) -> Migration | None:
    """Take the copy job for this worker (see ``job_claim``); None when it is not to be taken."""
    with transaction.atomic():
        if not job_claim(Migration, migration_id, **fresh_attempt(started=timezone.now())):
            return None
        migration_update(migration_id)
    return Migration.objects.select_related("source_storage", "destination_storage").get(pk=migration_id)


# --- polling rclone's jobs -----------------------------------------------------------------------


def ongoing(status: dict[str, Any]) -> dict[str, Any]:
    """rclone's job status as the job row shows it while the job goes on: ``finished`` is true
    only once the whole job has ended (verified, failed or cancelled), not when rclone's copy has."""
    return {**status, "finished": False}


def wait(attempt: Held, job_id: int, group: str, *, progress: bool) -> dict[str, Any]:
    """Poll an rclone job until it finishes, keeping the heartbeat (and, ``progress``, a copy's
    progress fields) fresh; stops the job on a cancel request (of a cancellable attempt) or a
    lost claim. rclone's last status of the job."""
    delay = FIRST_POLL
    daemon_starts = rclone.DAEMON.starts  # the job lives in this daemon: no rclone call since it started
    last_event = float("-inf")
    while True:
        try:
            status = rclone.job_status(job_id, secrets=attempt.secrets)
        except rclone.RcloneError as exc:
            try:  # a daemon the call found gone is started again now, so that its death shows below
                rclone.DAEMON.ensure()
            except rclone.RcloneError:
                pass
            if rclone.DAEMON.starts != daemon_starts:  # it died (and was started again): the job is lost
                raise AttemptFailed("rclone stopped during the job: its daemon died (it has been restarted)") from exc
            raise
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if progress:
            stats = rclone.job_stats(group, secrets=attempt.secrets)
            total = int(stats.get("totalBytes") or 0) or attempt.source.item_size
            fields.update(
                job_status=ongoing(status),
                job_stats=stats,
                bytes_done=int(stats.get("bytes") or 0),
                bytes_total=total,
                rate=float(stats.get("speed") or 0.0),
            )
        with transaction.atomic():  # the progress and its event together
            mine = attempt.mine().update(**fields)
            if mine and progress and time.monotonic() - last_event >= PROGRESS_EVENT_EVERY:
                migration_update(attempt.migration.pk)
                last_event = time.monotonic()
        if not mine:
            rclone.job_stop(job_id)
            raise LostClaim
        if status.get("finished"):
            attempt.status = status
            return status
        if attempt.cancellable and attempt.mine().filter(cancel_requested=True).exists():
            rclone.job_stop(job_id)
            wait_stopped(job_id)
            raise Cancelled
        time.sleep(delay)
        delay = min(delay * 2, MAX_POLL)


def wait_stopped(job_id: int) -> None:
    """Wait (30 s at most) until a stopped rclone job has finished."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if rclone.job_status(job_id).get("finished"):
                return
        except rclone.RcloneError:
            return
        time.sleep(0.05)

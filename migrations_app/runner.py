"""The copy job runner: what a worker does with a ``Migration`` row.

A job is claimed with a conditional update (so a second delivery of the same task does nothing),
copied by this process's rclone daemon while its progress and a heartbeat are written to the row,
then verified against what the catalogue recorded for the source. Only a verified copy makes the
destination item READY. A failed attempt is retried later, with exponential backoff, up to
``DLM_COPY_MAX_ATTEMPTS``, unless rclone's error is permanent (permission denied, a missing
bucket, refused credentials…: ``rclone.error_is_permanent``), which fails the job at once. A failed
job's destination item is removed in the transaction that fails the job, as upstream does, so
that a client polling the job until ``job_status.finished`` then finds no such uid. A job
whose worker died (its heartbeat stopped) is re-queued by ``copy_jobs_recover``, which runs every
minute; the new attempt copies again, and rclone skips what is already there and identical.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django_q.models import OrmQ, Schedule
from django_q.tasks import schedule

from catalogue.choices import ItemState, ItemType
from catalogue.models import DataItem
from catalogue.services.ingest import FILE_COUNT_KEY, RCLONE_HASHES
from catalogue.services.storages import storage_remotes
from core import rclone
from core.actor import Auth, Via, acting
from core.crypto import SecretDecryptionError
from core.errors import UnmetPreconditionForOperation
from migrations_app.choices import ACTIVE_STATES, JobState
from migrations_app.jobs import COPY_TASK, copy_task_send
from migrations_app.models import Migration

log = logging.getLogger("dlm.copy")

RECOVER_TASK = "migrations_app.tasks.copy_jobs_recover"
RECOVER_SCHEDULE = "dlm-copy-jobs-recover"

# Polling of a running rclone job: fast at first (a small file is done in milliseconds), then
# at most every second, so progress and the heartbeat stay fresh.
_FIRST_POLL, _MAX_POLL = 0.02, 0.25  # seconds: tiny files finish fast, big ones report 4×/s


class CopyFailed(Exception):
    """An attempt failed; the message (rclone's reason, secrets masked) goes to ``last_error``.
    ``permanent``: another attempt cannot succeed (the job fails at once)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class _Cancelled(Exception):
    pass


class _LostClaim(Exception):
    pass


@dataclass
class _Attempt:
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

    @property
    def group(self) -> str:
        return f"copy-{self.migration.pk}"

    def mine(self) -> Any:
        return Migration.objects.filter(pk=self.migration.pk, attempts=self.token, url=self.migration.url)


def worker_name() -> str:
    """Where an attempt runs: host name and process id (the row's ``url``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def after_copy(attempt: _Attempt) -> None:
    """Called between the copy and its verification. Does nothing: a test hook, so that a test can
    damage the destination's bytes and watch the verification catch it."""


# --- claiming -----------------------------------------------------------------------------------


def _stale_before() -> Any:
    return timezone.now() - timedelta(seconds=settings.DLM_COPY_HEARTBEAT_LIMIT)


def copy_job_claim(migration_id: int) -> Migration | None:
    """Take the job for this worker: a queued job whose retry time has come, or a running or
    verifying job whose heartbeat is stale (its worker died). None when it is not to be taken
    (another worker runs it, it is finished, or it does not exist)."""
    now = timezone.now()
    claimable = (
        Q(state=JobState.QUEUED, next_attempt_at__isnull=True)
        | Q(state=JobState.QUEUED, next_attempt_at__lte=now)
        | Q(state__in=(JobState.RUNNING, JobState.VERIFYING), heartbeat_at__lt=_stale_before())
        | Q(state__in=(JobState.RUNNING, JobState.VERIFYING), heartbeat_at__isnull=True)
    )
    changed = (
        Migration.objects.filter(claimable, pk=migration_id)
        .exclude(complete=True)
        .update(
            state=JobState.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            next_attempt_at=None,
            url=worker_name(),
            job_id=0,
            bytes_done=0,
            rate=0.0,
        )
    )
    if changed != 1:
        return None
    return Migration.objects.select_related("source_storage", "destination_storage").get(pk=migration_id)


# --- the task body ------------------------------------------------------------------------------


def copy_job_run(migration_id: int) -> str:
    """Run one attempt at a copy job, if it can be claimed; the job's state afterwards (or
    ``"not claimed"``). Never raises for a failed copy: the row records it."""
    migration = copy_job_claim(migration_id)
    if migration is None:
        log.info("copy job %s: not claimed (finished, waiting for a retry, or running elsewhere)", migration_id)
        return "not claimed"
    token = migration.attempts
    secrets: list[str] = []
    attempt: _Attempt | None = None
    try:
        attempt = _prepare(migration, token)
        secrets = attempt.secrets
        if migration.cancel_requested:
            raise _Cancelled
        _copy(attempt)
        _verify_phase(attempt)
        _complete(attempt)
        return JobState.COMPLETED
    except _LostClaim:
        log.warning("copy job %s: attempt %s lost its claim (another worker took over)", migration_id, token)
        return "lost claim"
    except _Cancelled:
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
        _attempt_failed(migration, token, rclone.mask(reason, secrets), permanent=permanent)
    return Migration.objects.filter(pk=migration_id).values_list("state", flat=True).first() or "gone"


def _prepare(migration: Migration, token: int) -> _Attempt:
    uids = (migration.source_uid, migration.destination_uid)
    items = {item.uid: item for item in DataItem.objects.filter(uid__in=uids)}
    source, destination = items.get(migration.source_uid), items.get(migration.destination_uid)
    if source is None:
        raise CopyFailed(f"The source item {migration.source_uid} is not in the catalogue", permanent=True)
    if destination is None:
        raise CopyFailed(f"The destination item {migration.destination_uid} is not in the catalogue", permanent=True)
    src_config, dst_config = storage_remotes(migration.source_storage, migration.destination_storage)
    attempt = _Attempt(
        migration=migration,
        token=token,
        source=source,
        destination=destination,
        src_config=src_config,
        dst_config=dst_config,
        src_path=rclone.full_path(migration.source_storage.root_directory, source.uri or ""),
        dst_path=rclone.full_path(migration.destination_storage.root_directory, destination.uri or ""),
        tree=source.item_type == ItemType.CONTAINER,
        secrets=rclone.secret_values(src_config, dst_config),
    )
    method = "sync/copy" if attempt.tree else "operations/copyfile"
    command = f"{method} {src_config.get('name')}:{attempt.src_path} -> {dst_config.get('name')}:{attempt.dst_path}"
    # The API may have described the command already; the update also tells that the job is ours.
    if not attempt.mine().update(command=Coalesce(NullIf(F("command"), Value("")), Value(command))):
        raise _LostClaim
    return attempt


def _wait(attempt: _Attempt, job_id: int, group: str, *, progress: bool) -> dict[str, Any]:
    """Poll an rclone job until it finishes, keeping the heartbeat (and, ``progress``, the
    progress fields) fresh; stops the job on a cancel request or a lost claim."""
    delay = _FIRST_POLL
    daemon_starts = rclone.DAEMON.starts  # the job lives in this daemon: no rclone call since it started
    while True:
        try:
            status = rclone.job_status(job_id, secrets=attempt.secrets)
        except rclone.RcloneError as exc:
            if rclone.DAEMON.starts != daemon_starts:  # it died (and was started again): the job is lost
                raise CopyFailed("rclone stopped during the job: its daemon died (it has been restarted)") from exc
            raise
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if progress:
            stats = rclone.job_stats(group, secrets=attempt.secrets)
            total = int(stats.get("totalBytes") or 0) or attempt.source.item_size
            fields.update(
                job_status=_ongoing(status),
                job_stats=stats,
                bytes_done=int(stats.get("bytes") or 0),
                bytes_total=total,
                rate=float(stats.get("speed") or 0.0),
            )
        if not attempt.mine().update(**fields):
            rclone.job_stop(job_id)
            raise _LostClaim
        if status.get("finished"):
            attempt.status = status
            return status
        if attempt.mine().filter(cancel_requested=True).exists():
            rclone.job_stop(job_id)
            _wait_stopped(job_id)
            raise _Cancelled
        time.sleep(delay)
        delay = min(delay * 2, _MAX_POLL)


def _wait_stopped(job_id: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if rclone.job_status(job_id).get("finished"):
                return
        except rclone.RcloneError:
            return
        time.sleep(0.05)


# Backends whose hash DLM's verification computes by reading the copied bytes back (a local disk
# reads the file, sftp runs md5sum on the server). Copies to them skip rclone's own post-transfer
# hash comparison, which would hash the same bytes a second time; the verification is the check.
# Elsewhere (S3's stored md5, say) rclone's comparison stays on.
READ_BACK_BACKENDS = frozenset({"local", "sftp"})


# Files up to this size are copied by one call that returns when the file is there: no job to poll,
# no statistics to read (``job_id`` stays 0; ``job_status`` and ``job_stats`` record the call with
# rclone's keys). Small enough to take well under the heartbeat limit on any link.
SMALL_FILE_LIMIT = 256 * 1024


def _ongoing(status: dict[str, Any]) -> dict[str, Any]:
    """rclone's job status as the job row shows it while the job goes on: ``finished`` is true
    only once the whole job has ended (verified, failed or cancelled), not when rclone's copy has."""
    return {**status, "finished": False}


def _ended(status: dict[str, Any] | None, *, success: bool, error: str) -> dict[str, Any]:
    """The job row's ``job_status`` once the job has ended, rclone's keys kept where there were any."""
    return {**(status or {}), "finished": True, "success": success, "error": error}


def _checksum(attempt: _Attempt) -> bool:
    return attempt.dst_config.get("type") not in READ_BACK_BACKENDS


def _copy(attempt: _Attempt) -> None:
    size = attempt.source.item_size
    if not attempt.tree and size is not None and size <= SMALL_FILE_LIMIT:
        began = time.monotonic()
        try:
            rclone.copy_file(
                attempt.src_config, attempt.src_path, attempt.dst_config, attempt.dst_path, checksum=_checksum(attempt)
            )
        except rclone.RcloneError as exc:
            raise CopyFailed(f"rclone copy failed: {exc}", permanent=exc.permanent) from exc
        seconds = round(time.monotonic() - began, 6)
        attempt.status = {"finished": True, "success": True, "error": "", "duration": seconds}
        attempt.progress = {
            "bytes_done": size,
            "bytes_total": size,
            "job_status": _ongoing(attempt.status),
            "job_stats": {"bytes": size, "totalBytes": size, "transfers": 1, "elapsedTime": seconds},
        }
        return
    rclone.stats_delete(attempt.group)  # a previous attempt's figures in this daemon
    job_id = rclone.copy_start(
        attempt.src_config, attempt.src_path, attempt.dst_config, attempt.dst_path, tree=attempt.tree,
        group=attempt.group, checksum=_checksum(attempt),
    )  # fmt: skip
    if not attempt.mine().update(job_id=job_id):
        rclone.job_stop(job_id)
        raise _LostClaim
    status = _wait(attempt, job_id, attempt.group, progress=True)
    if not status.get("success"):
        error = status.get("error") or "no reason given"
        raise CopyFailed(f"rclone copy failed: {error}", permanent=rclone.error_is_permanent(error))


# --- verification -------------------------------------------------------------------------------


def _verify_phase(attempt: _Attempt) -> None:
    if not attempt.mine().update(state=JobState.VERIFYING, heartbeat_at=timezone.now(), **(attempt.progress or {})):
        raise _LostClaim
    after_copy(attempt)
    bad: list[str] = []  # the destination paths of bad bytes
    try:
        if attempt.tree:
            _verify_tree(attempt, bad)
        else:
            bad.append(attempt.dst_path)
            _verify_file(attempt)
    except CopyFailed:
        # Bad bytes are removed, so the next attempt copies them again rather than skipping them:
        # only the files this copy wrote, never a directory (it may hold files that are not ours).
        for path in bad:
            try:
                rclone.remove(attempt.dst_config, path)
            except rclone.RcloneError as exc:
                log.warning("copy job %s: could not remove the bad copy %s: %s", attempt.migration.pk, path, exc)
        raise


def _hash_by_job(attempt: _Attempt, config: dict[str, Any], path: str, hash_type: str, *, download: bool) -> dict:
    """Hashes of the files under ``path`` (a file: its name), as a background rclone job, so that
    the heartbeat stays fresh however long the bytes take to read. ``download``: read the bytes
    even where the backend could give the hash itself."""
    group = f"{attempt.group}-hash"
    job_id = rclone.hashsum_start(config, path, hash_type=hash_type, download=download, group=group)
    status = _wait(attempt, job_id, group, progress=False)
    if not status.get("success"):
        raise CopyFailed(f"rclone could not compute {hash_type} of {path}: {status.get('error')}")
    sums: dict[str, str] = {}
    for line in (status.get("output") or {}).get("hashsum") or []:
        value, _, name = line.partition("  ")
        sums[name] = value.lower()
    return sums


# Files up to this size are hashed in the foreground (a stat with the hash: fast, no job to poll);
# larger ones by a background job, so that a long read keeps the heartbeat fresh.
FOREGROUND_HASH_LIMIT = 64 * 1024 * 1024


def _file_hash(attempt: _Attempt, config: dict[str, Any], path: str, hash_type: str, size: int) -> str:
    """The file's hash: the backend's own where it has one (S3's md5, say), else computed by
    reading the bytes back (sftp). A large file is never hashed in the foreground, where a long
    read would let the heartbeat go stale and the job be taken over while it is verified."""
    if size <= FOREGROUND_HASH_LIMIT:
        entry = rclone.stat(config, path, hashes=(hash_type,)) or {}
        given = (entry.get("Hashes") or {}).get(hash_type)
        if given:
            return given.lower()
    try:
        sums = _hash_by_job(attempt, config, path, hash_type, download=False)
    except CopyFailed:
        sums = {}
    if len(sums) != 1 or not next(iter(sums.values())):  # the backend has no such hash: read the bytes
        sums = _hash_by_job(attempt, config, path, hash_type, download=True)
    if len(sums) != 1 or not next(iter(sums.values())):
        raise CopyFailed(f"rclone gave no {hash_type} for {path}")
    return next(iter(sums.values()))


# Hashes worth preferring when a large copy is read back, fastest first: recorded at registration
# beside the item's checksum (see ``catalogue.services.ingest.VERIFY_HASHES``), and used where the
# destination can compute them; else the item's own checksum.
FAST_HASHES = ("xxh3",)


def recorded_hashes(item: DataItem) -> dict[str, str]:
    """The hashes the catalogue holds for the item's bytes that rclone can compute, by name."""
    recorded = {name: value.lower() for name, value in (item.hashes or {}).items() if name in RCLONE_HASHES and value}
    if item.item_checksum and item.checksum_method in RCLONE_HASHES:
        recorded[item.checksum_method] = item.item_checksum.lower()
    return recorded


def _verify_hash_type(attempt: _Attempt, recorded: dict[str, str], small: bool) -> str:
    source = attempt.source
    primary = source.checksum_method if source.checksum_method in recorded else "md5"
    fast = [name for name in FAST_HASHES if name in recorded and name != primary]
    if small or not fast:
        return primary
    supported = rclone.hash_types(attempt.dst_config)
    return next((name for name in fast if name in supported), primary)


def _verify_file(attempt: _Attempt) -> None:
    source, path = attempt.source, attempt.dst_path
    recorded = recorded_hashes(source)
    small = source.item_size is not None and source.item_size <= FOREGROUND_HASH_LIMIT
    hash_type = _verify_hash_type(attempt, recorded, small)
    entry = rclone.stat(attempt.dst_config, path, hashes=(hash_type,) if small else ())
    if entry is None or entry.get("IsDir"):
        raise CopyFailed(f"Verification failed: no file at {path} after the copy")
    size = int(entry["Size"])
    if source.item_size is not None and size != source.item_size:
        raise CopyFailed(f"Verification failed: {path} holds {size} bytes, the source {source.item_size}")
    given = (entry.get("Hashes") or {}).get(hash_type)
    actual = given.lower() if given else _file_hash(attempt, attempt.dst_config, path, hash_type, size)
    expected = recorded.get(hash_type)
    if expected is None:  # nothing recorded that rclone can compute: compare with a fresh hash of the source
        if rclone.stat(attempt.src_config, attempt.src_path, hashes=()) is None:
            raise CopyFailed(f"Verification failed: the source {attempt.src_path} has gone")
        expected = _file_hash(attempt, attempt.src_config, attempt.src_path, hash_type, size)
    if actual != expected:
        raise CopyFailed(f"Verification failed: {hash_type} of {path} is {actual}, expected {expected}")


def _verify_tree(attempt: _Attempt, bad: list[str]) -> None:
    """Every file of the source's tree is at the destination with its size (and its md5 where both
    backends give one), and they add up to the item's size and file count. Files the destination
    directory holds besides them are not the copy's and are left alone. The paths of files found
    bad go to ``bad``."""
    source, path = attempt.source, attempt.dst_path
    src_files = {entry["Path"]: entry for entry in rclone.list_files(attempt.src_config, attempt.src_path)}
    attempt.mine().update(heartbeat_at=timezone.now())
    dst_files = {entry["Path"]: entry for entry in rclone.list_files(attempt.dst_config, path)}
    problems = []
    for name, entry in sorted(src_files.items()):
        copy = dst_files.get(name)
        if copy is None:
            problems.append(f"{path}/{name} is missing")
            continue
        if int(copy["Size"]) != int(entry["Size"]):
            problems.append(f"{path}/{name} holds {copy['Size']} bytes, the source {entry['Size']}")
            bad.append(f"{path}/{name}")
            continue
        want, got = (entry.get("Hashes") or {}).get("md5"), (copy.get("Hashes") or {}).get("md5")
        if want and got and want.lower() != got.lower():
            problems.append(f"md5 of {path}/{name} is {got}, expected {want}")
            bad.append(f"{path}/{name}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CopyFailed(f"Verification failed: {problems[0]}{more}")
    total = sum(int(entry["Size"]) for entry in src_files.values())
    if source.item_size is not None and total != source.item_size:
        raise CopyFailed(f"Verification failed: the source holds {total} bytes, the item {source.item_size}")
    expected_count = (source.metadata or {}).get(FILE_COUNT_KEY, len(src_files))
    if len(src_files) != expected_count:
        raise CopyFailed(f"Verification failed: the source holds {len(src_files)} files, the item {expected_count}")


# --- endings ------------------------------------------------------------------------------------


def _complete(attempt: _Attempt) -> None:
    now = timezone.now()
    with transaction.atomic():
        if (
            not attempt.mine()
            .filter(state=JobState.VERIFYING)
            .update(
                state=JobState.COMPLETED,
                complete=True,
                job_status=_ended(attempt.status, success=True, error=""),
                completion_date=now,
                finished_at=now,
                heartbeat_at=now,
                last_error="",
                next_attempt_at=None,
            )
        ):
            raise _LostClaim
        DataItem.objects.filter(uid=attempt.destination.uid).update(item_state=ItemState.READY, last_check=now)
    if attempt.progress is None:  # the copy ran as a job, whose figures the daemon keeps
        rclone.stats_delete(attempt.group)
    log.info("copy job %s: completed and verified", attempt.migration.pk)


def _cancel(migration: Migration, token: int, attempt: _Attempt | None) -> None:
    # A cancelled file's partial copy is removed. A tree's destination directory is left as it is:
    # the files copied so far are whole copies of the source's, and it may hold files not ours.
    if attempt is not None and not attempt.tree:
        try:
            rclone.remove(attempt.dst_config, attempt.dst_path)
        except rclone.RcloneError as exc:
            log.warning("copy job %s: could not remove the partial copy: %s", migration.pk, exc)
    now = timezone.now()
    with transaction.atomic():
        Migration.objects.filter(pk=migration.pk, attempts=token).update(
            state=JobState.CANCELLED,
            complete=True,
            job_status=_ended(attempt.status if attempt else None, success=False, error="Cancelled"),
            finished_at=now,
            completion_date=now,
            heartbeat_at=now,
            last_error="Cancelled",
        )
        DataItem.objects.filter(uid=migration.destination_uid).update(item_state=ItemState.CORRUPTED)
    log.info("copy job %s: cancelled", migration.pk)


def retry_delay(attempts: int) -> timedelta:
    """How long a job waits after its ``attempts``-th failed attempt: doubling from ``DLM_COPY_RETRY_DELAY``."""
    return timedelta(seconds=settings.DLM_COPY_RETRY_DELAY * 2 ** max(attempts - 1, 0))


def _attempt_failed(migration: Migration, token: int, reason: str, *, permanent: bool = False) -> None:
    now = timezone.now()
    rows = Migration.objects.filter(pk=migration.pk, attempts=token, state__in=(JobState.RUNNING, JobState.VERIFYING))
    if permanent or token >= settings.DLM_COPY_MAX_ATTEMPTS:
        _fail(migration, rows, reason, now)
        why = "a permanent error" if permanent and token < settings.DLM_COPY_MAX_ATTEMPTS else f"{token} attempts"
        log.warning("copy job %s: failed after %s: %s", migration.pk, why, reason)
        return
    next_at = now + retry_delay(token)
    retrying = {"finished": False, "success": False, "error": reason}
    if rows.update(
        state=JobState.QUEUED, last_error=reason, next_attempt_at=next_at, heartbeat_at=now, job_status=retrying
    ):
        log.warning("copy job %s: attempt %s failed, retrying at %s: %s", migration.pk, token, next_at, reason)
        transaction.on_commit(lambda: _requeue(migration.pk, next_at, token))


def _fail(migration: Migration, rows: Any, reason: str, now: Any) -> None:
    """End the job failed and remove its destination copy, in one transaction, both recorded in
    the audit trail as DLM's own doing. The copy stays (CORRUPTED) only where something else
    refers to it: an item registered under it, or another job copying from or to it."""
    status = _ended(None, success=False, error=reason)
    with (
        transaction.atomic(),
        acting(username=migration.user, user_id=None, auth=Auth.SYSTEM, via=Via.WORKER, operation="copy_job_failed"),
    ):
        if not rows.update(
            state=JobState.FAILED,
            complete=True,
            job_status=status,
            last_error=reason,
            finished_at=now,
            completion_date=now,
            heartbeat_at=now,
        ):
            return
        uid = migration.destination_uid
        copy = DataItem.objects.filter(uid=uid).exclude(item_state=ItemState.READY)
        others = Migration.objects.filter(Q(source_uid=uid) | Q(destination_uid=uid)).exclude(pk=migration.pk)
        if DataItem.objects.filter(parents=uid).exists() or others.filter(state__in=ACTIVE_STATES).exists():
            copy.update(item_state=ItemState.CORRUPTED)
            log.warning(
                "copy job %s: destination copy %s kept (CORRUPTED): other items or jobs refer to it", migration.pk, uid
            )
            return
        copy.delete()


def _requeue(migration_id: int, when: Any, attempt: int) -> None:
    if when <= timezone.now():
        copy_task_send(migration_id)
        return
    name = f"copy-{migration_id}-retry-{attempt}"
    Schedule.objects.filter(name=name).delete()  # a fired one of an earlier run of the job (names are unique)
    # repeats=-1: django-q2 deletes a ONCE schedule once it has fired.
    schedule(COPY_TASK, migration_id, name=name, schedule_type=Schedule.ONCE, next_run=when, repeats=-1)


# --- recovery -----------------------------------------------------------------------------------


def _pending_copy_tasks() -> set[int]:
    """The jobs with a copy task in the queue (waiting, or held by a worker)."""
    pending: set[int] = set()
    for task in OrmQ.objects.all():
        if task.task.get("func") == COPY_TASK and task.task.get("args"):
            pending.add(int(task.task["args"][0]))
    return pending


def copy_jobs_recover(*, enqueue: Callable[[int], Any] | None = None) -> list[int]:
    """Re-queue the jobs a worker lost: running or verifying with a heartbeat older than
    ``DLM_COPY_HEARTBEAT_LIMIT`` (its worker died), and queued jobs due for longer than that with
    no task in the queue (a task lost, or a retry schedule that did not fire). Their ids."""
    send = enqueue or copy_task_send
    stale = _stale_before()
    dead = Migration.objects.filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True),
        state__in=(JobState.RUNNING, JobState.VERIFYING),
    )
    waiting = Migration.objects.filter(state=JobState.QUEUED).filter(
        Q(next_attempt_at__lt=stale) | Q(next_attempt_at__isnull=True, date__lt=stale)
    )
    ids = list(dead.values_list("pk", flat=True))
    waiting_ids = list(waiting.values_list("pk", flat=True))
    if waiting_ids:
        pending = _pending_copy_tasks()
        ids += [pk for pk in waiting_ids if pk not in pending]
    for pk in ids:
        log.warning("copy job %s: re-queued by the recovery check", pk)
        send(pk)
    return ids

"""The deletion runner: what a worker does with a ``Deletion`` row.

A deletion is run the way a copy is (``migrations_app.runner``): claimed with a conditional
update, so that a second delivery of its task does nothing; its bytes removed by this process's
rclone daemon (a file by one call; a container's directory purged as an rclone job polled while
the heartbeat is written); then checked gone (VERIFYING); then, in one transaction, the job
COMPLETED and the copy with every item inside it marked DELETED (``data_items_tombstone``,
which also refreshes their objects' phases). Nothing there to remove is fine: a worker that died
after removing the bytes leaves them gone, and the next attempt finds nothing and completes.

A failed attempt is retried later with the copy jobs' backoff (``DLM_COPY_MAX_ATTEMPTS``,
``DLM_COPY_RETRY_DELAY``); a permanent rclone error fails the job at once. A job failed for good
leaves the copy as it was when no attempt began removing its bytes, or when they are all still
there; CORRUPTED otherwise (a container partly purged, with every item inside it; a file gone or
cut short; or bytes that could not be looked at). The
changes a deletion makes to the catalogue are recorded in the audit trail as DLM's own (the
worker), on behalf of the account that asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalogue.choices import ItemState, ItemType
from catalogue.models import DataItem
from catalogue.phases import objects_lock, oid_phases_refresh
from catalogue.services.data_items import data_item_descendants, data_items_tombstone
from catalogue.services.registrations import FILE_COUNT_KEY
from catalogue.services.storages import storage_remote
from core import rclone
from core.actor import Auth, Via, acting
from core.crypto import SecretDecryptionError
from core.errors import UnmetPreconditionForOperation
from migrations_app.jobs import DELETION_TASK
from migrations_app.models import Deletion
from migrations_app.runner import claim
from migrations_app.runner.claim import AttemptFailed, LostClaim, claim_fence, job_claim
from migrations_app.runner.retries import gives_up, retry_later
from migrations_app.states import WORKING, JobState, transition

log = logging.getLogger("dlm.deletion")


@dataclass
class DeletionAttempt:
    """One claimed attempt at a deletion, with what it needs to talk to rclone."""

    deletion: Deletion
    token: int  # the attempt number we claimed; a heartbeat only lands while it is still ours
    config: dict[str, Any]
    path: str  # the payload's path on the remote (the storage's root directory and the copy's uri)
    container: bool  # a directory tree (purged), else one file
    secrets: list[str]
    status: dict[str, Any] | None = None  # rclone's last status of the purge job
    cancellable: ClassVar[bool] = False  # a running deletion has begun removing bytes

    @property
    def group(self) -> str:
        """rclone's statistics group of the attempt's purge."""
        return f"deletion-{self.deletion.pk}"

    @property
    def fence(self) -> Q:
        return claim_fence(self.deletion, self.token)

    def mine(self) -> QuerySet:
        """The job's row, while it is still this attempt's (empty once another worker took it)."""
        return Deletion.objects.filter(self.fence, pk=self.deletion.pk)


def deletion_job_claim(deletion_id: int) -> Deletion | None:
    """Take the deletion for this worker, as a copy job is taken (``claim.job_claim``); None when
    it is not to be taken (another worker runs it, it is finished, or it does not exist)."""
    if not job_claim(Deletion, deletion_id):
        return None
    return Deletion.objects.select_related("storage").get(pk=deletion_id)


def deletion_job_run(deletion_id: int) -> str:
    """Run one attempt at deletion ``deletion_id``, if it can be claimed; the job's state
    afterwards (or ``"not claimed"``). Never raises for a failed deletion: the row records it."""
    deletion = deletion_job_claim(deletion_id)
    if deletion is None:
        log.info("deletion %s: not claimed (finished, waiting for a retry, or running elsewhere)", deletion_id)
        return "not claimed"
    token = deletion.attempts
    attempt: DeletionAttempt | None = None
    try:
        attempt = _prepare(deletion, token)
        _remove(attempt)
        after_removal(attempt)
        _verify(attempt)
        _complete(attempt)
    except LostClaim:
        log.warning("deletion %s: attempt %s lost its claim (another worker took over)", deletion_id, token)
        return "lost claim"
    except Exception as exc:
        permanent = False
        if isinstance(exc, AttemptFailed | rclone.RcloneError):
            reason, permanent = str(exc), exc.permanent
        elif isinstance(exc, UnmetPreconditionForOperation | SecretDecryptionError):
            reason, permanent = str(exc), True  # the storage's config is missing or unreadable
        else:
            log.exception("deletion %s: attempt %s failed unexpectedly", deletion_id, token)
            reason = f"{type(exc).__name__}: {exc}"
        secrets = attempt.secrets if attempt else []
        deletion_attempt_failed(deletion, token, rclone.mask(reason, secrets), permanent=permanent, attempt=attempt)
    return Deletion.objects.filter(pk=deletion_id).values_list("state", flat=True).first() or "gone"


def _prepare(deletion: Deletion, token: int) -> DeletionAttempt:
    if deletion.storage is None:
        raise AttemptFailed(f"Deletion {deletion.pk} names no storage: there are no bytes to remove", permanent=True)
    if not rclone.full_path("", deletion.path).strip("/"):
        # An empty uri is the storage's root directory: never removed whole.
        raise AttemptFailed(
            f"The copy {deletion.uid} has no uri on its storage: DLM does not remove a storage's root directory",
            permanent=True,
        )
    config = storage_remote(deletion.storage)
    return DeletionAttempt(
        deletion=deletion,
        token=token,
        config=config,
        path=rclone.full_path(deletion.storage.root_directory, deletion.path),
        container=deletion.item_type == ItemType.CONTAINER,
        secrets=rclone.secret_values(config),
    )


def after_removal(attempt: DeletionAttempt) -> None:
    """Called between the removal and its verification. Does nothing: a test hook, so that a test
    can write into the path meanwhile and watch the verification catch it."""


def _remove(attempt: DeletionAttempt) -> None:
    """Remove the payload; nothing there is fine. Raises ``AttemptFailed`` with rclone's reason."""
    try:
        there = rclone.stat(attempt.config, attempt.path, hashes=())
    except rclone.RcloneError as exc:
        raise AttemptFailed(f"rclone could not look at {attempt.path}: {exc}", permanent=exc.permanent) from exc
    if there is None:
        return  # nothing there: never written, or removed by an attempt whose worker died
    if bool(there.get("IsDir")) != attempt.container:
        kind = "a directory" if there.get("IsDir") else "a file"
        want = "the directory of the container" if attempt.container else "the file of the copy"
        raise AttemptFailed(f"{attempt.path} is {kind}, not {want} {attempt.deletion.uid}", permanent=True)
    # Noted before the first byte goes: a job that fails for good after this may have left the
    # copy partly removed.
    if not attempt.mine().update(removal_started_at=Coalesce(F("removal_started_at"), timezone.now())):
        raise LostClaim
    if not attempt.container:
        try:
            rclone.remove(attempt.config, attempt.path)
        except rclone.RcloneError as exc:
            raise AttemptFailed(f"rclone could not delete {attempt.path}: {exc}", permanent=exc.permanent) from exc
        return
    rclone.stats_delete(attempt.group)  # a previous attempt's figures in this daemon
    try:
        job_id = rclone.purge_start(attempt.config, attempt.path, group=attempt.group)
    except rclone.RcloneError as exc:
        raise AttemptFailed(f"rclone could not purge {attempt.path}: {exc}", permanent=exc.permanent) from exc
    if not attempt.mine().update(job_id=job_id):
        rclone.job_stop(job_id)
        raise LostClaim
    status = claim.wait(attempt, job_id, attempt.group, progress=False)
    rclone.stats_delete(attempt.group)
    if not status.get("success"):
        error = status.get("error") or "no reason given"
        if rclone.error_is_not_found(error):
            return  # gone meanwhile
        raise AttemptFailed(
            f"rclone could not purge {attempt.path}: {error}", permanent=rclone.error_is_permanent(error)
        )


def _verify(attempt: DeletionAttempt) -> None:
    """Check that nothing is left at the payload's path (for a container: no file under it)."""
    if not transition(
        attempt.deletion.pk, to=JobState.VERIFYING, fence=attempt.fence, model=Deletion, heartbeat_at=timezone.now()
    ):
        raise LostClaim
    entry = rclone.stat(attempt.config, attempt.path, hashes=())
    if entry is None:
        return
    if not attempt.container or not entry.get("IsDir"):
        raise AttemptFailed(f"Verification failed: {attempt.path} is still there after its deletion")
    left = rclone.list_files(attempt.config, attempt.path, hashes=())
    if left:
        more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
        raise AttemptFailed(
            f"Verification failed: {len(left)} files are still under {attempt.path}: {left[0]['Path']}{more}"
        )


def _worker(deletion: Deletion, operation: str) -> Any:
    """The audit trail's actor for the runner's changes: DLM's worker, for the account that asked."""
    return acting(username=deletion.user, user_id=None, auth=Auth.SYSTEM, via=Via.WORKER, operation=operation)


def _complete(attempt: DeletionAttempt) -> None:
    deletion = attempt.deletion
    now = timezone.now()
    with transaction.atomic(), _worker(deletion, "deletion_job_completed"):
        marked = data_items_tombstone(uids=[deletion.uid], at=now)
        if not transition(
            deletion.pk,
            to=JobState.COMPLETED,
            fence=attempt.fence,
            model=Deletion,
            complete=True,
            finished_at=now,
            heartbeat_at=now,
            next_attempt_at=None,
            last_error="",
            items_deleted=len(marked),
        ):
            raise LostClaim  # rolls the tombstone back: the job is another worker's now
    log.info("deletion %s: %s removed and verified gone; %s items DELETED", deletion.pk, attempt.path, len(marked))


# --- failure ------------------------------------------------------------------------------------


def deletion_attempt_failed(
    deletion: Deletion, token: int, reason: str, *, permanent: bool = False, attempt: DeletionAttempt | None = None
) -> None:
    """Record that attempt ``token`` failed for ``reason``: queued again for a later attempt, or
    failed for good after its last attempt or at once on a ``permanent`` error. Nothing is written
    once another worker has claimed the job."""
    now = timezone.now()
    why = gives_up(token, permanent=permanent)
    if why:
        _fail(deletion, token, reason, now, attempt)
        log.warning("deletion %s: failed after %s: %s", deletion.pk, why, reason)
        return
    next_at = retry_later(deletion, token, reason, task=DELETION_TASK, now=now)
    if next_at is not None:
        log.warning("deletion %s: attempt %s failed, retrying at %s: %s", deletion.pk, token, next_at, reason)


def _fail(deletion: Deletion, token: int, reason: str, now: datetime, attempt: DeletionAttempt | None) -> None:
    """End the job failed; the copy CORRUPTED unless its bytes are all still there."""
    whole = _still_whole(deletion, attempt)
    with transaction.atomic(), _worker(deletion, "deletion_job_failed"):
        if not transition(
            deletion.pk,
            to=JobState.FAILED,
            from_states=WORKING,
            fence=claim_fence(deletion, token),
            model=Deletion,
            complete=True,
            finished_at=now,
            heartbeat_at=now,
            next_attempt_at=None,
            last_error=reason,
        ):
            return
        if not whole:
            # A container's inner items had their bytes under the purged path: none is vouched for.
            inside = data_item_descendants([deletion.uid]) if deletion.item_type == ItemType.CONTAINER else []
            uids = [deletion.uid, *inside]
            oids = set()
            for start in range(0, len(uids), 900):
                oids.update(DataItem.objects.filter(uid__in=uids[start : start + 900]).values_list("oid", flat=True))
            objects_lock(oids)  # before any write: the order every writer of these rows keeps
            for start in range(0, len(uids), 900):
                DataItem.objects.filter(uid__in=uids[start : start + 900]).exclude(
                    item_state__in=(ItemState.DELETED, ItemState.CORRUPTED)
                ).update(item_state=ItemState.CORRUPTED)
            oid_phases_refresh(oids)  # a copy that counted no longer does
            log.warning("deletion %s: the copy %s is not whole any more: CORRUPTED", deletion.pk, deletion.uid)


def _still_whole(deletion: Deletion, attempt: DeletionAttempt | None) -> bool:
    """Whether the copy's bytes are all still where they were: certainly so when no attempt
    began removing them; else as far as rclone can tell (a file there with its size; a container's
    files adding up to its recorded size and count), and not when rclone cannot tell."""
    removal_started = Deletion.objects.filter(pk=deletion.pk).values_list("removal_started_at", flat=True).first()
    if removal_started is None:
        return True
    item = DataItem.objects.filter(uid=deletion.uid).first()
    if attempt is None or item is None:
        return False
    try:
        if not attempt.container:
            entry = rclone.stat(attempt.config, attempt.path, hashes=())
            return bool(entry) and not entry.get("IsDir") and item.item_size in (None, int(entry["Size"]))
        files = rclone.list_files(attempt.config, attempt.path, hashes=())
    except rclone.RcloneError:
        return False
    count = (item.metadata or {}).get(FILE_COUNT_KEY)
    if not files or (count is None and item.item_size is None):
        return False  # a partial purge could not be told from a whole tree
    total = sum(int(entry["Size"]) for entry in files)
    return count in (None, len(files)) and item.item_size in (None, total)

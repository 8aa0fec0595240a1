"""The copy itself: what rclone is asked to do for a claimed attempt, and doing it."""

from __future__ import annotations

import time

from django.db.models import F, Value
from django.db.models.functions import Coalesce, NullIf

from catalogue.choices import ItemState, ItemType
from catalogue.models import DataItem
from catalogue.services.storages import storage_remotes
from core import rclone
from migrations_app.choices import JobOrigin
from migrations_app.models import Migration
from migrations_app.runner import claim
from migrations_app.runner.claim import Attempt, CopyFailed, LostClaim, ongoing
from migrations_app.selectors import active_deletion

# Backends whose hash DLM's verification computes by reading the copied bytes back (a local disk
# reads the file, sftp runs md5sum on the server). Copies to them skip rclone's own post-transfer
# hash comparison, which would hash the same bytes a second time; the verification is the check.
# Elsewhere (S3's stored md5, say) rclone's comparison stays on.
READ_BACK_BACKENDS = frozenset({"local", "sftp"})

# Files up to this size are copied by one call that returns when the file is there: no job to poll,
# no statistics to read (``job_id`` stays 0; ``job_status`` and ``job_stats`` record the call with
# rclone's keys). Small enough to take well under the heartbeat limit on any link.
SMALL_FILE_LIMIT = 256 * 1024


def prepare(migration: Migration, token: int) -> Attempt:
    """The attempt at the claimed job: its two copies, rclone remotes and paths. Records the
    command given to rclone (unless the API described it already); raises ``LostClaim`` when the
    job is no longer ours, ``CopyFailed`` when a copy is gone from the catalogue."""
    uids = (migration.source_uid, migration.destination_uid)
    items = {item.uid: item for item in DataItem.objects.filter(uid__in=uids)}
    source, destination = items.get(migration.source_uid), items.get(migration.destination_uid)
    if source is None:
        raise CopyFailed(f"The source item {migration.source_uid} is not in the catalogue", permanent=True)
    if destination is None:
        raise CopyFailed(f"The destination item {migration.destination_uid} is not in the catalogue", permanent=True)
    deletion = active_deletion(source.uid)
    if deletion is not None or source.item_state == ItemState.DELETED:
        what = f"is being deleted (deletion {deletion.deletion_id})" if deletion else "has been deleted"
        raise CopyFailed(f"The source copy {source.uid} {what}: it cannot be copied from", permanent=True)
    src_config, dst_config = storage_remotes(migration.source_storage, migration.destination_storage)
    attempt = Attempt(
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
        raise LostClaim
    return attempt


def _checksum(attempt: Attempt) -> bool:
    return attempt.dst_config.get("type") not in READ_BACK_BACKENDS


def _rewrite(attempt: Attempt) -> bool:
    """A repair writes every file again: the bytes there were found bad, whatever their size and
    time say."""
    return attempt.migration.origin == JobOrigin.REPAIR


def copy(attempt: Attempt) -> None:
    """Copy the source's bytes to the destination: a small file by one call, anything else as an
    rclone job polled until it ends. Raises ``CopyFailed`` with rclone's reason."""
    size = attempt.source.item_size
    if not attempt.tree and size is not None and size <= SMALL_FILE_LIMIT:
        began = time.monotonic()
        try:
            rclone.copy_file(
                attempt.src_config, attempt.src_path, attempt.dst_config, attempt.dst_path,
                checksum=_checksum(attempt), rewrite=_rewrite(attempt),
            )  # fmt: skip
        except rclone.RcloneError as exc:
            raise CopyFailed(f"rclone copy failed: {exc}", permanent=exc.permanent) from exc
        seconds = round(time.monotonic() - began, 6)
        attempt.status = {"finished": True, "success": True, "error": "", "duration": seconds}
        attempt.progress = {
            "bytes_done": size,
            "bytes_total": size,
            "job_status": ongoing(attempt.status),
            "job_stats": {"bytes": size, "totalBytes": size, "transfers": 1, "elapsedTime": seconds},
        }
        return
    rclone.stats_delete(attempt.group)  # a previous attempt's figures in this daemon
    job_id = rclone.copy_start(
        attempt.src_config, attempt.src_path, attempt.dst_config, attempt.dst_path, tree=attempt.tree,
        group=attempt.group, checksum=_checksum(attempt), rewrite=_rewrite(attempt),
    )  # fmt: skip
    if not attempt.mine().update(job_id=job_id):
        rclone.job_stop(job_id)
        raise LostClaim
    status = claim.wait(attempt, job_id, attempt.group, progress=True)
    if not status.get("success"):
        error = status.get("error") or "no reason given"
        raise CopyFailed(f"rclone copy failed: {error}", permanent=rclone.error_is_permanent(error))

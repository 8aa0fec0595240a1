"""Fixity: every READY copy verified again within ``DLM_FIXITY_PERIOD``, the oldest-verified first,
paced per storage (``integrity.pacing``), as jobs on the workers' queue.

A check (a ``FixityCheck`` row, the job) reads the copy's size, and its recorded checksum by a hash
the remote serves (S3's md5, a local disk's hashes), or by reading the bytes back and hashing them
where it serves none; a container's total size and file count. The copy's bytes as recorded: the
check PASSED and ``last_verified_at`` set. Other bytes, or none: the check CORRUPTED or LOST, and
the copy handed to ``integrity.repair.copy_found_bad`` (marked CORRUPTED, repaired from a good
copy, or the reason why not recorded on the check). A storage that cannot be read leaves the copy
unjudged: the check ends in ERROR.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from catalogue.choices import ItemState, ItemType
from catalogue.models import DataItem, Storage
from catalogue.services.registrations import FILE_COUNT_KEY
from catalogue.services.storages import storage_remote
from core import rclone
from core.crypto import SecretDecryptionError
from core.errors import ObjectNotFound, UnmetPreconditionForOperation
from integrity import pacing
from integrity.models import CHECK_ACTIVE, CheckOrigin, CheckState, FixityCheck
from integrity.repair import INTEGRITY_USER, copy_found_bad
from migrations_app.runner.verify import recorded_hashes

log = logging.getLogger("dlm.integrity")

FIXITY_TASK = "integrity.tasks.fixity_check_run"  # integrity.tasks imports this module: named here

# A check running longer than this (plus its bytes at DLM_FIXITY_BYTES_PER_SECOND) was lost with
# its worker: the schedule ends it in ERROR, and the copy is due again.
STALE_AFTER = 3600  # seconds


# --- queueing -------------------------------------------------------------------------------------


def _send(check_id: int) -> None:
    """Put the check's task in the queue (only the id travels)."""
    async_task(FIXITY_TASK, check_id, task_name=f"fixity-{check_id}", save=False)


def _send_at(check_id: int, when: datetime) -> None:
    """Run the check's task again at ``when`` (its storage's pace is taken until then)."""
    name = f"fixity-{check_id}-at"
    Schedule.objects.filter(name=name).delete()  # a fired one of an earlier wait (names are unique)
    # repeats=-1: django-q2 deletes a ONCE schedule once it has fired.
    schedule(FIXITY_TASK, check_id, name=name, schedule_type=Schedule.ONCE, next_run=when, repeats=-1)


def fixity_check_create(*, uid: uuid.UUID, user: str, origin: str = CheckOrigin.CLIENT) -> FixityCheck:
    """Queue a check of the READY copy ``uid`` (its task sent once the transaction commits); a
    check of it already queued or running is answered instead of a second one. 404
    (``ObjectNotFound``) for an unknown uid; 422 (``UnmetPreconditionForOperation``, field
    ``uid``) for a copy that is not READY or is on no storage."""
    item = DataItem.objects.filter(uid=uid).only("uid", "item_state", "storage_id").first()
    if item is None:
        raise ObjectNotFound(f"No data item with uid={uid}", field="uid")
    if item.item_state != ItemState.READY:
        raise UnmetPreconditionForOperation(
            f"The copy {uid} is {item.item_state}: only a READY copy can be verified", field="uid"
        )
    if item.storage_id is None:
        raise UnmetPreconditionForOperation(f"The copy {uid} is on no storage: nothing to verify", field="uid")
    with transaction.atomic():
        active = FixityCheck.objects.filter(item_id=uid, state__in=CHECK_ACTIVE).first()
        if active is not None:
            return active
        try:
            with transaction.atomic():
                check = FixityCheck.objects.create(
                    item_id=uid, storage_id=item.storage_id, origin=origin, requested_by=user
                )
        except IntegrityError:  # a concurrent request queued one first
            return FixityCheck.objects.get(item_id=uid, state__in=CHECK_ACTIVE)
        transaction.on_commit(lambda: _send(check.check_id))
    return check


def checks_of(uid: uuid.UUID) -> QuerySet:
    """The fixity checks of the copy ``uid``, newest first."""
    return FixityCheck.objects.filter(item_id=uid).order_by("-check_id")


def checks_query(*, uid: uuid.UUID | None = None, storage_name: str = "", state: str = "") -> QuerySet:
    """The fixity checks, newest first, of a copy, of a storage's copies and in a state (combined)."""
    checks = FixityCheck.objects.order_by("-check_id")
    if uid:
        checks = checks.filter(item_id=uid)
    if storage_name:
        checks = checks.filter(storage__storage_name=storage_name)
    if state:
        checks = checks.filter(state=state)
    return checks


# --- the schedule ---------------------------------------------------------------------------------


def _stale_end(now: datetime) -> int:
    """End in ERROR the running checks whose worker must have died; how many."""
    ended = 0
    running = FixityCheck.objects.filter(state=CheckState.RUNNING, started_at__isnull=False)
    for check_id, started, size in running.values_list("check_id", "started_at", "item__item_size"):
        limit = STALE_AFTER + (size or 0) / settings.DLM_FIXITY_BYTES_PER_SECOND
        if started < now - timedelta(seconds=limit):
            ended += FixityCheck.objects.filter(pk=check_id, state=CheckState.RUNNING).update(
                state=CheckState.ERROR, finished_at=now, detail="The check's worker stopped before it ended"
            )
    return ended


def fixity_schedule() -> dict[str, Any]:
    """Queue this interval's share of the READY copies: ``ceil(ready * DLM_FIXITY_INTERVAL /
    DLM_FIXITY_PERIOD)`` of them, never verified or verified longest ago first, skipping copies
    with a check queued or running and copies verified less than half a period ago (so that a
    small catalogue is not checked every interval). Running checks whose worker died end in
    ERROR. Its counts: ``ready``, ``share``, ``queued`` (the check ids) and ``stale``."""
    now = timezone.now()
    stale = _stale_end(now)
    ready = DataItem.objects.filter(item_state=ItemState.READY, storage__isnull=False)
    count = ready.count()
    share = math.ceil(count * settings.DLM_FIXITY_INTERVAL / settings.DLM_FIXITY_PERIOD)
    due_before = now - timedelta(seconds=settings.DLM_FIXITY_PERIOD / 2)
    due = (
        ready.filter(Q(last_verified_at__isnull=True) | Q(last_verified_at__lte=due_before))
        .exclude(uid__in=FixityCheck.objects.filter(state__in=CHECK_ACTIVE).values("item_id"))
        .order_by(F("last_verified_at").asc(nulls_first=True), "uid_creation", "uid")
    )
    picked = list(due.values_list("uid", "storage_id")[:share]) if share else []
    queued: list[int] = []
    with transaction.atomic():
        for uid, storage_id in picked:
            try:
                with transaction.atomic():
                    check = FixityCheck.objects.create(
                        item_id=uid, storage_id=storage_id, origin=CheckOrigin.SCHEDULE, requested_by=INTEGRITY_USER
                    )
            except IntegrityError:  # a client asked for one meanwhile
                continue
            queued.append(check.check_id)
        # Sent in the transaction: django-q2's ORM broker commits them with the checks.
        for check_id in queued:
            _send(check_id)
    return {"ready": count, "share": share, "queued": queued, "stale": stale}


# --- one check ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a check found: its end state and what it says."""

    state: str
    detail: str
    hash_type: str = ""
    downloaded: bool = False
    bytes_checked: int = 0


def fixity_check_run(check_id: int) -> str:
    """Run the queued check ``check_id``: wait for its storage's pace (re-queued for later, still
    QUEUED, when that is more than ``pacing.MAX_SLEEP`` away), read the copy and judge it; its
    state afterwards. A check that is not queued (run already, or by another worker) is left
    as it is. Never raises for what it found: the row records it."""
    check = FixityCheck.objects.select_related("item", "storage").filter(pk=check_id).first()
    if check is None:
        return "gone"
    if check.state != CheckState.QUEUED:
        return check.state
    item = check.item
    if item.item_state != ItemState.READY or item.storage_id != check.storage_id:
        _end(check, Outcome(CheckState.CANCELLED, f"The copy is {item.item_state}, not READY: not checked"))
        return CheckState.CANCELLED
    slot = pacing.slot_take(check.storage_id, size=item.item_size)
    if not slot.taken:
        _send_at(check_id, slot.at)
        return CheckState.QUEUED
    if slot.wait > 0:
        time.sleep(slot.wait)
    started = timezone.now()
    if not FixityCheck.objects.filter(pk=check_id, state=CheckState.QUEUED).update(
        state=CheckState.RUNNING, started_at=started
    ):
        return "not claimed"
    check.state, check.started_at = CheckState.RUNNING, started
    try:
        outcome = _examine(check, item)
    except Exception as exc:  # a bug, not a finding: the copy stays unjudged
        log.exception("fixity check %s failed unexpectedly", check_id)
        outcome = Outcome(CheckState.ERROR, f"{type(exc).__name__}: {exc}")
    return _conclude(check, item, outcome)


def _end(check: FixityCheck, outcome: Outcome, **fields: Any) -> bool:
    moved = FixityCheck.objects.filter(pk=check.pk, state__in=CHECK_ACTIVE).update(
        state=outcome.state,
        finished_at=timezone.now(),
        detail=outcome.detail,
        hash_type=outcome.hash_type,
        downloaded=outcome.downloaded,
        bytes_checked=outcome.bytes_checked,
        **fields,
    )
    return bool(moved)


def _conclude(check: FixityCheck, item: DataItem, outcome: Outcome) -> str:
    if outcome.state == CheckState.PASSED:
        with transaction.atomic():
            _end(check, outcome)
            DataItem.objects.filter(uid=item.uid, item_state=ItemState.READY).update(last_verified_at=timezone.now())
        return outcome.state
    if outcome.state not in (CheckState.CORRUPTED, CheckState.LOST):
        log.warning("fixity check %s of %s: %s: %s", check.pk, item.uid, outcome.state, outcome.detail)
        _end(check, outcome)
        return outcome.state
    state = DataItem.objects.filter(uid=item.uid).values_list("item_state", flat=True).first()
    if state != ItemState.READY:  # changed while it was read (a deletion, a state set): not judged
        _end(check, Outcome(CheckState.CANCELLED, f"The copy became {state} during the check: {outcome.detail}"))
        return CheckState.CANCELLED
    with transaction.atomic():  # the check ends with its repair job named, never before
        repair = copy_found_bad(item.uid, lost=outcome.state == CheckState.LOST, detail=outcome.detail)
        detail = outcome.detail + (f". {repair.problem}" if repair.problem else "")
        _end(check, replace(outcome, detail=detail), repair_migration_id=repair.migration_id)
    return outcome.state


def _examine(check: FixityCheck, item: DataItem) -> Outcome:
    """Read the copy on its storage and compare it with the catalogue."""
    storage: Storage = check.storage
    try:
        config = storage_remote(storage)
    except (UnmetPreconditionForOperation, SecretDecryptionError) as exc:
        return Outcome(CheckState.ERROR, f"The storage {storage.storage_name} cannot be read: {exc}")
    secrets = rclone.secret_values(config)
    path = rclone.full_path(storage.root_directory, item.uri or "")
    try:
        if item.item_type == ItemType.CONTAINER:
            return _examine_tree(config, path, item)
        return _examine_file(config, path, item, group=f"fixity-{check.pk}", secrets=secrets)
    except rclone.RcloneError as exc:
        reason = rclone.mask(str(exc), secrets)
        return Outcome(CheckState.ERROR, f"The storage {storage.storage_name} could not be read: {reason}")


def _missing(config: dict[str, Any], path: str) -> Outcome:
    """Nothing at ``path``: lost, if the storage itself answers (an unmounted disk, a bucket
    gone or a refusal leaves the copy unjudged)."""
    reach = rclone.remote_reachable(config)
    if not reach.reachable:
        return Outcome(CheckState.ERROR, f"The storage cannot be reached: {reach.error}")
    return Outcome(CheckState.LOST, f"Nothing at {path}")


def _hash_choice(config: dict[str, Any], item: DataItem, recorded: dict[str, str]) -> str:
    """The recorded hash to compare: the item's checksum method first, one the backend serves if
    any (no bytes downloaded), else the first recorded (computed from the bytes read back)."""
    if not recorded:
        return ""
    ordered = sorted(recorded, key=lambda name: (name != item.checksum_method, name != "md5", name))
    served = set(rclone.hash_types(config))
    return next((name for name in ordered if name in served), ordered[0])


def _download_hash(config: dict[str, Any], path: str, hash_type: str, *, group: str, secrets: list[str]) -> str:
    """The file's ``hash_type``, computed from its bytes read back by an rclone job."""
    job_id = rclone.hashsum_start(config, path, hash_type=hash_type, download=True, group=group)
    delay = 0.02
    try:
        while not (status := rclone.job_status(job_id, secrets=secrets)).get("finished"):
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    finally:
        rclone.stats_delete(group)
    if not status.get("success"):
        raise rclone.RcloneError(f"rclone could not compute {hash_type} of {path}: {status.get('error')}")
    sums = [line.partition("  ")[0] for line in (status.get("output") or {}).get("hashsum") or []]
    if len(sums) != 1 or not sums[0]:
        raise rclone.RcloneError(f"rclone gave no {hash_type} for {path}")
    return sums[0].lower()


def _examine_file(config: dict[str, Any], path: str, item: DataItem, *, group: str, secrets: list[str]) -> Outcome:
    recorded = recorded_hashes(item)
    hash_type = _hash_choice(config, item, recorded)
    entry = rclone.stat(config, path, hashes=(hash_type,) if hash_type else ())
    if entry is None:
        return _missing(config, path)
    if entry.get("IsDir"):
        return Outcome(CheckState.CORRUPTED, f"A directory is at {path}, where the file should be")
    size = int(entry["Size"])
    if item.item_size is not None and size != item.item_size:
        return Outcome(
            CheckState.CORRUPTED, f"{path} holds {size} bytes, the catalogue records {item.item_size}", bytes_checked=0
        )
    if not hash_type:
        return Outcome(CheckState.PASSED, "Size as recorded (no checksum recorded that rclone can compute)")
    given = (entry.get("Hashes") or {}).get(hash_type)
    downloaded = not given
    actual = given.lower() if given else _download_hash(config, path, hash_type, group=group, secrets=secrets)
    expected = recorded[hash_type]
    if actual != expected:
        return Outcome(
            CheckState.CORRUPTED,
            f"{hash_type} of {path} is {actual}, the catalogue records {expected}",
            hash_type=hash_type,
            downloaded=downloaded,
            bytes_checked=size,
        )
    how = "read back and hashed" if downloaded else "as the storage serves it"
    return Outcome(
        CheckState.PASSED,
        f"Size and {hash_type} as recorded ({how})",
        hash_type=hash_type,
        downloaded=downloaded,
        bytes_checked=size,
    )


def _examine_tree(config: dict[str, Any], path: str, item: DataItem) -> Outcome:
    entry = rclone.stat(config, path, hashes=())
    if entry is None:
        return _missing(config, path)
    if not entry.get("IsDir"):
        return Outcome(CheckState.CORRUPTED, f"A file is at {path}, where the container's directory should be")
    total, count = rclone.size(config, path)
    problems = []
    if item.item_size is not None and total != item.item_size:
        problems.append(f"{path} holds {total} bytes, the catalogue records {item.item_size}")
    expected_count = (item.metadata or {}).get(FILE_COUNT_KEY) if isinstance(item.metadata, dict) else None
    if expected_count is not None and count != expected_count:
        problems.append(f"{path} holds {count} files, the catalogue records {expected_count}")
    if problems:
        return Outcome(CheckState.CORRUPTED, "; ".join(problems), bytes_checked=total)
    return Outcome(CheckState.PASSED, f"Total size and file count as recorded ({count} files)", bytes_checked=total)

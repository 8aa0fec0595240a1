"""Writes of the deletion jobs: asking for the removal of a copy's bytes, cancelling and retrying
one. The lifecycle (its rules, ``delete_data_item_payload``), the API, the web UI and the admin
call these; a worker does the removal (``migrations_app.runner.deleting``).

These services decide whether a deletion *can* be done now (the copy exists, is not DELETED, no
other job is reading, writing or deleting it); whether it *should* be (enough other copies left)
is the lifecycle's judgement, made in the same transaction before it asks. The copy's row is
locked while a deletion is asked for, as it is while a copy from it is asked for, so that of the
two one waits for the other and then sees it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalogue.choices import ItemState
from catalogue.models import DataItem
from catalogue.services.data_items import data_item_descendants, data_items_tombstone
from core.errors import ObjectNotFound, UnmetPreconditionForOperation, ValueAlreadyInDB
from migrations_app.choices import JobOrigin
from migrations_app.events import deletion_update
from migrations_app.jobs import deletion_job_enqueue
from migrations_app.models import Deletion, Migration
from migrations_app.selectors import active_deletion
from migrations_app.states import (
    ACTIVE,
    DELETION_CANCELLABLE,
    INITIAL,
    RETRYABLE,
    WORKING,
    JobState,
    TransitionRefused,
    attempt_times,
    transition,
)


def _already_deleting(deletion: Deletion) -> ValueAlreadyInDB:
    return ValueAlreadyInDB(
        f"The copy {deletion.uid} is already being deleted: deletion {deletion.deletion_id} ({deletion.state})",
        field="uid",
    )


def _check_deletable(copy: DataItem) -> None:
    """Refuse (naming field ``uid``) a copy that cannot be deleted now: DELETED already, being
    deleted, or read or written by a copy job that has not ended (the copy itself or an item
    inside it)."""
    if copy.item_state == ItemState.DELETED:
        raise UnmetPreconditionForOperation(f"The copy {copy.uid} is DELETED already", field="uid")
    deletion = active_deletion(copy.uid)
    if deletion is not None:
        raise _already_deleting(deletion)
    inside = data_item_descendants([copy.uid])
    uids = [copy.uid, *inside]
    for start in range(0, len(uids), 900):
        chunk = uids[start : start + 900]
        active = Migration.objects.filter(state__in=ACTIVE).order_by("migration_id")
        writer = active.filter(destination_uid__in=chunk).first()
        if writer is not None:
            what = _which(writer.destination_uid, copy)
            raise UnmetPreconditionForOperation(
                f"Copy job {writer.migration_id} ({writer.state}) is writing {what}: "
                "wait for it to end, or cancel it, before deleting it",
                field="uid",
            )
        reader = active.filter(source_uid__in=chunk).first()
        if reader is not None:
            what = _which(reader.source_uid, copy)
            raise UnmetPreconditionForOperation(
                f"Copy job {reader.migration_id} ({reader.state}) is copying from {what}: "
                "wait for it to end, or cancel it, before deleting it",
                field="uid",
            )


def _which(uid: uuid.UUID, copy: DataItem) -> str:
    return f"the copy {copy.uid}" if uid == copy.uid else f"the item {uid} inside the copy {copy.uid}"


def _locked_copy(uid: uuid.UUID) -> DataItem:
    copy = DataItem.objects.select_for_update().filter(uid=uid).first()
    if copy is None:
        raise ObjectNotFound(f"No data item with uid={uid}", field="uid")
    return copy


def deletion_job_create(
    *,
    uid: uuid.UUID,
    user: str,
    reason: str = "",
    origin: str = JobOrigin.CLIENT,
    forced: bool = False,
) -> Deletion:
    """Ask for the bytes of the copy ``uid`` to be removed from its storage: a QUEUED deletion,
    handed to the workers when the transaction commits (the caller's, when called inside one).
    Once a worker has removed the bytes and checked them gone, the copy and every item inside it
    are DELETED. A copy on no storage has no bytes: it is DELETED at once, and the deletion
    answered COMPLETED (``storage`` null).

    Does not judge whether the object stays resilient enough without this copy: the caller
    does (``forced`` records that it was asked to skip that). ``reason`` says why (shown to
    operators); ``origin`` who asked.

    Refused, naming field ``uid``: no such copy (404 ``ObjectNotFound``); a copy DELETED already,
    or read or written by a copy job that has not ended (422 ``UnmetPreconditionForOperation``,
    naming the job); a copy being deleted already (422 ``ValueAlreadyInDB``, naming the deletion).
    """
    with transaction.atomic():
        copy = _locked_copy(uid)
        _check_deletable(copy)
        fields: dict[str, Any] = {
            "uid": copy.uid,
            "oid": copy.oid,
            "item_name": copy.item_name or "",
            "item_type": copy.item_type or "",
            "path": copy.uri or "",
            "storage_id": copy.storage_id,
            "user": user,
            "origin": origin,
            "reason": reason,
            "forced": forced,
        }
        if copy.storage_id is None:
            now = timezone.now()
            marked = data_items_tombstone(uids=[copy.uid], at=now)
            deletion = Deletion.objects.create(
                **fields,
                state=JobState.COMPLETED,
                complete=True,
                finished_at=now,
                items_deleted=len(marked),
            )
            deletion_update([deletion.deletion_id])
            return deletion
        try:
            with transaction.atomic():
                deletion = Deletion.objects.create(**fields, state=INITIAL)
                deletion_update([deletion.deletion_id])
        except IntegrityError:
            # A concurrent request won the partial unique constraint (one active deletion per copy).
            raced = active_deletion(copy.uid)
            if raced is not None:
                raise _already_deleting(raced) from None
            raise
        deletion_job_enqueue(deletion.deletion_id)
    return deletion


# --- cancel and retry -------------------------------------------------------------------------


def _locked(deletion_id: int, *, states: tuple[str, ...], only: str, working: str = "") -> Deletion:
    """The deletion, locked until the transaction ends; a 422 saying ``only`` unless its state
    is one of ``states`` (``working``, if given, for a deletion a worker holds)."""
    deletion = None
    if 1 <= deletion_id < 2**63:
        deletion = Deletion.objects.select_for_update().filter(deletion_id=deletion_id).first()
    if deletion is None:
        raise ObjectNotFound(f"No deletion with deletion_id={deletion_id}", field="deletion_id")
    if deletion.state not in states:
        why = working if working and deletion.state in WORKING else only
        raise UnmetPreconditionForOperation(
            f"Deletion {deletion.deletion_id} is {deletion.state}: {why}", field="deletion_id"
        )
    return deletion


def deletion_job_cancel(*, deletion_id: int) -> Deletion:
    """Cancel a deletion that no worker has taken yet: CANCELLED, and the copy untouched. A
    running one is a 422 (its worker has begun removing bytes), and so is a finished one."""
    with transaction.atomic():
        _locked(
            deletion_id,
            states=DELETION_CANCELLABLE,
            only="only a queued deletion can be cancelled",
            working="its worker has begun removing the copy's bytes, so it can no longer be cancelled",
        )
        moved = transition(
            deletion_id,
            to=JobState.CANCELLED,
            from_states=DELETION_CANCELLABLE,
            model=Deletion,
            complete=True,
            finished_at=timezone.now(),
            next_attempt_at=None,
        )
        if not moved:  # the row is locked: only a mistake gets here
            raise TransitionRefused(f"Deletion {deletion_id} moved while it was locked")
        return Deletion.objects.get(pk=deletion_id)


def deletion_job_retry(*, deletion_id: int) -> Deletion:
    """Queue a failed or cancelled deletion again, from its first attempt (``last_error`` stays
    until the next attempt). Refused (422) in any other state, and when the copy cannot be
    deleted now: DELETED already, being deleted by another deletion, or used by a copy job."""
    with transaction.atomic():
        deletion = _locked(deletion_id, states=RETRYABLE, only="only a failed or cancelled deletion can be retried")
        _check_deletable(_locked_copy(deletion.uid))
        try:
            with transaction.atomic():
                moved = transition(
                    deletion_id,
                    to=JobState.QUEUED,
                    from_states=RETRYABLE,
                    model=Deletion,
                    attempts=0,
                    complete=False,
                    finished_at=None,
                    url="",
                    job_id=0,
                    **attempt_times(started=None),
                )
        except IntegrityError:
            raced = active_deletion(deletion.uid)
            if raced is not None:
                raise _already_deleting(raced) from None
            raise
        if not moved:  # the row is locked: only a mistake gets here
            raise TransitionRefused(f"Deletion {deletion_id} moved while it was locked")
        deletion_job_enqueue(deletion_id)
        return Deletion.objects.get(pk=deletion_id)

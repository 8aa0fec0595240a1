"""What DLM does with a copy found bad (by a fixity check or a consistency scan): the copy marked
CORRUPTED, its object's phase computed again, and a repair copy job started from a good READY copy
of the same object into the copy's own row and path. Where there is no good copy, nothing is
deleted: the copy stays CORRUPTED and the reason is returned, for the caller to record and show."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.db import transaction

from catalogue.choices import ItemState
from catalogue.models import DataItem
from catalogue.services import data_item_set
from core.actor import Auth, Via, acting, current_actor
from core.errors import DataLifecycleError
from migrations_app.models import Migration
from migrations_app.services import repair_job_create
from migrations_app.states import ACTIVE

log = logging.getLogger("dlm.integrity")

INTEGRITY_USER = "integrity"


@dataclass(frozen=True)
class Repair:
    """The repair asked for: its copy job (``migration_id``), or, when there is none, why not
    (``problem``: no good copy, the copy being deleted…)."""

    migration_id: int | None
    problem: str


def _acting(user: str):
    """The actor of the change: the caller's when one is set (a request), else DLM's integrity
    checks as ``user``."""
    if current_actor() is not None:
        return transaction.atomic()
    return acting(username=user, user_id=None, auth=Auth.SYSTEM, via=Via.INTEGRITY, operation="copy_found_bad")


def copy_found_bad(uid: uuid.UUID, *, lost: bool, detail: str, user: str = INTEGRITY_USER) -> Repair:
    """Mark the copy ``uid`` CORRUPTED (its bytes other than recorded, or, ``lost``, gone), in the
    audit trail as the integrity checks' doing, with its object's phase computed again; then start
    a repair job (``migrations_app.services.repair_job_create``) from a good READY copy. A copy
    already CORRUPTED is only repaired (a job already writing it is returned). A copy in another
    state than READY or CORRUPTED is not judged: ``problem`` says so, and nothing changes."""
    what = "lost" if lost else "corrupted"
    with _acting(user), transaction.atomic():
        copy = DataItem.objects.select_for_update().filter(uid=uid).first()
        if copy is None:
            return Repair(None, f"No data item with uid={uid}")
        if copy.item_state == ItemState.READY:
            try:
                data_item_set(uid=uid, fields={"item_state": ItemState.CORRUPTED})
            except DataLifecycleError as exc:  # a job writes or removes it: not ours to judge now
                return Repair(None, f"The copy {uid} was not marked CORRUPTED: {exc}")
            log.warning("copy %s found %s: %s", uid, what, detail)
        elif copy.item_state == ItemState.INITIALISED:
            writing = Migration.objects.filter(destination_uid=uid, state__in=ACTIVE).first()
            if writing is not None:
                return Repair(writing.migration_id, "")
            return Repair(None, f"The copy {uid} is INITIALISED: not judged")
        elif copy.item_state != ItemState.CORRUPTED:
            return Repair(None, f"The copy {uid} is {copy.item_state}: not judged")
        try:
            with transaction.atomic():
                migration = repair_job_create(uid=uid, user=user, reason=f"copy found {what}: {detail}"[:2000])
        except DataLifecycleError as exc:
            log.error("copy %s found %s and not repaired: %s", uid, what, exc)
            return Repair(None, f"Not repaired: {exc}")
    log.info("copy %s found %s: repair job %s", uid, what, migration.migration_id)
    return Repair(migration.migration_id, "")

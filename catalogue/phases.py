"""Phases: how resilient an object is, from the storages its READY copies are on.

A copy counts toward its object's phase with the weight of its storage's *current* phase
(PLASMA 0, GAS 1, LIQUID 2, SOLID 4): the weights of the copies add up, and the sum is the
object's phase (0 PLASMA, 1 GAS, 2 or 3 LIQUID, 4 and more SOLID). An object with no READY copy
is PLASMA: nothing of it can be read. ``oid_phase`` on every row of an object is that phase;
``oid_phases_refresh`` makes it so after a change.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable

from django.db import connection
from django.db.models import Q

from catalogue.choices import PHASE_WEIGHT, ItemState, PhaseType
from catalogue.models import BELOW_TARGET, BELOW_TARGET_OPEN, EXPIRY_DUE, DataItem
from core.actor import unattended

# Objects refreshed by one query and at most four updates.
REFRESH_CHUNK = 500

__all__ = [
    "BELOW_TARGET",
    "BELOW_TARGET_OPEN",
    "EXPIRY_DUE",
    "at_least",
    "combine",
    "lifecycle_holds_release",
    "lifecycle_reconsider",
    "objects_lock",
    "oid_phases",
    "oid_phases_refresh",
    "phase_of_weight",
    "phases_at_least",
    "ready_phases",
    "storage_oids",
    "weight",
]


def weight(phase: str | None) -> int:
    """A phase's weight; an unknown or missing phase weighs nothing."""
    return PHASE_WEIGHT.get(phase, 0) if phase else 0


def phase_of_weight(total: int) -> str:
    """The phase a sum of weights gives."""
    if total >= PHASE_WEIGHT[PhaseType.SOLID]:
        return PhaseType.SOLID
    if total >= PHASE_WEIGHT[PhaseType.LIQUID]:
        return PhaseType.LIQUID
    if total >= PHASE_WEIGHT[PhaseType.GAS]:
        return PhaseType.GAS
    return PhaseType.PLASMA


def combine(phases: Iterable[str | None]) -> str:
    """The phase of an object whose counted copies are on storages of these phases."""
    return phase_of_weight(sum(weight(phase) for phase in phases))


def at_least(phase: str | None, target: str | None) -> bool:
    """``phase`` is as resilient as ``target`` or more (by weight, never alphabetically)."""
    return weight(phase) >= weight(target)


def phases_at_least(phase: str) -> tuple[str, ...]:
    """The phases as resilient as ``phase`` or more."""
    return tuple(value for value in PhaseType.values if weight(value) >= weight(phase))


def ready_phases(oids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The current phases of the storages of each object's READY copies."""
    found: dict[uuid.UUID, list[str]] = defaultdict(list)
    rows = DataItem.objects.filter(oid__in=list(oids), item_state=ItemState.READY, storage__isnull=False)
    for oid, phase in rows.values_list("oid", "storage__storage_phase"):
        found[oid].append(phase)
    return found


def oid_phases(oids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each object's phase now (PLASMA when it has no READY copy)."""
    oids = list(dict.fromkeys(oids))
    found = ready_phases(oids)
    return {oid: combine(found.get(oid, ())) for oid in oids}


def objects_lock(oids: Iterable[uuid.UUID | None]) -> None:
    """Lock every row of these objects until the transaction ends, in uid order.

    Whoever changes several rows of an object (a copy completed, a copy deleted, a state set, the
    lifecycle's decisions, a deletion's check) locks them all this way first, before it writes any
    of them: taken in one order by everyone, row locks cannot deadlock. (SQLite: each transaction
    holds the database's write lock from its start; there is nothing to do.)"""
    pending = sorted({oid for oid in oids if oid is not None}, key=str)
    if not pending or connection.vendor == "sqlite":
        return
    for start in range(0, len(pending), REFRESH_CHUNK):
        rows = DataItem.objects.filter(oid__in=pending[start : start + REFRESH_CHUNK])
        list(rows.select_for_update().order_by("uid").values_list("uid", flat=True))


def oid_phases_refresh(oids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Set ``oid_phase`` on every row of these objects to their phase now; their phases. Rows
    that hold it already are not written. The audit trail records the change that moved the phase
    (a state set, a copy deleted…), not this consequence of it."""
    result: dict[uuid.UUID, str] = {}
    pending = [oid for oid in dict.fromkeys(oids) if oid is not None]
    for start in range(0, len(pending), REFRESH_CHUNK):
        objects_lock(pending[start : start + REFRESH_CHUNK])
        phases = oid_phases(pending[start : start + REFRESH_CHUNK])
        by_phase: dict[str, list[uuid.UUID]] = defaultdict(list)
        for oid, phase in phases.items():
            by_phase[phase].append(oid)
        # Derived from changes that are recorded themselves: not an audited change of its own.
        with unattended():
            for phase, members in by_phase.items():
                DataItem.objects.filter(oid__in=members).exclude(oid_phase=phase).update(oid_phase=phase)
        lifecycle_reconsider(list(phases))
        result.update(phases)
    return result


def lifecycle_reconsider(oids: Iterable[uuid.UUID] | None = None) -> int:
    """Have the lifecycle look again at these objects (every object: None): their copies it kept
    after they expired, and their being below target phase with no storage to take a copy. Called
    whenever an object's copies, phase or expiry, or the storages, change. Not an audited change:
    the marks are the lifecycle's bookkeeping. The number of rows marked again."""
    marked = DataItem.objects.filter(Q(expired=True) | Q(lifecycle_hold=True))
    with unattended():
        if oids is None:
            return marked.update(expired=False, lifecycle_hold=False)
        pending = [oid for oid in oids if oid is not None]
        changed = 0
        for start in range(0, len(pending), REFRESH_CHUNK):
            changed += marked.filter(oid__in=pending[start : start + REFRESH_CHUNK]).update(
                expired=False, lifecycle_hold=False
            )
        return changed


def lifecycle_holds_release() -> int:
    """Have the lifecycle look again at every object it found below target with nowhere to copy
    it: a storage was added or changed, so there may be a place now. The rows marked again."""
    with unattended():
        return DataItem.objects.filter(lifecycle_hold=True).update(lifecycle_hold=False)


def storage_oids(storage_id: uuid.UUID) -> Iterable[uuid.UUID]:
    """The objects with a READY copy on a storage (whose phase follows the storage's)."""
    rows = DataItem.objects.filter(storage_id=storage_id, item_state=ItemState.READY, oid__isnull=False)
    return rows.values_list("oid", flat=True).distinct().iterator(chunk_size=2000)

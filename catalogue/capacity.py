"""A storage's use and free space.

A storage's use is what DLM holds there: the catalogued sizes (``item_size``) of its READY copies
and of the copies on their way to it (INITIALISED), against its ``storage_capacity``. It is summed
on read from the ``data_item_storage_use`` index (storage, item_state, item_size): always current,
no counter to keep. Where the backend tells its space (rclone ``about``), ``storages_measure``
asks it on a schedule and keeps the answer on the storage (``storage_total_bytes``,
``storage_free_bytes``, ``storage_measured_at``, or ``storage_measure_error`` why not).

Watermarks, in percent of the capacity: above ``DLM_STORAGE_WARN_PCT`` the UI flags a storage;
above ``DLM_STORAGE_HIGH_PCT`` it takes no new copy or registration (``storage_room_refusal``),
and the lifecycle places nothing there. A copy that would not fit in the measured free space
(less what copies under way there will still write) is refused too. A storage whose capacity is
unknown (``storage_capacity`` <= 0) has no percentage and is never refused for its use.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import BigIntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalogue.choices import ConfigType, ItemState
from catalogue.models import DataItem, Storage, StorageConfig
from catalogue.services.storages import storage_remotes
from core import rclone
from core.crypto import SecretDecryptionError
from core.errors import UnmetPreconditionForOperation
from core.units import human_size

log = logging.getLogger("dlm.capacity")

# The copies that take room on a storage: those there, and those on their way.
USE_STATES = (ItemState.READY, ItemState.INITIALISED)
OK, WARN, HIGH = "ok", "warn", "high"
# ``storage_use_pct`` is upstream's numeric(4,1): a storage over ten times full shows 999.9.
PCT_MAX = 999.9


@dataclass(frozen=True)
class StorageUse:
    """A storage's use: ``used_bytes`` (READY + INITIALISED copies' ``item_size``) against
    ``capacity`` (None when unknown), ``pct`` of it (None likewise) and its ``level`` against the
    watermarks; what the backend said of its space when last asked; and ``in_flight_bytes``, the
    part of ``used_bytes`` that copies under way are still to write."""

    storage_id: uuid.UUID
    used_bytes: int
    capacity: int | None
    pct: float | None
    level: str
    total_bytes: int | None
    free_bytes: int | None
    measured_at: datetime | None
    measure_error: str
    in_flight_bytes: int = 0


def use_pct(used: int, capacity: int | None) -> float | None:
    """``used`` bytes in percent of ``capacity`` (None when the capacity is unknown)."""
    if not capacity or capacity <= 0:
        return None
    return 100.0 * used / capacity


def use_level(pct: float | None) -> str:
    """``high`` above ``DLM_STORAGE_HIGH_PCT``, ``warn`` above ``DLM_STORAGE_WARN_PCT``, else ``ok``."""
    if pct is None:
        return OK
    if pct > settings.DLM_STORAGE_HIGH_PCT:
        return HIGH
    if pct > settings.DLM_STORAGE_WARN_PCT:
        return WARN
    return OK


def use_pct_column(pct: float | None) -> float:
    """``pct`` as the ``storage_use_pct`` column holds it: one decimal, 0 when unknown."""
    return 0.0 if pct is None else round(min(pct, PCT_MAX), 1)


def _use(storage: Storage, ready: int, in_flight: int) -> StorageUse:
    capacity = storage.storage_capacity if storage.storage_capacity and storage.storage_capacity > 0 else None
    used = ready + in_flight
    pct = use_pct(used, capacity)
    return StorageUse(
        storage_id=storage.storage_id,
        used_bytes=used,
        capacity=capacity,
        pct=pct,
        level=use_level(pct),
        total_bytes=storage.storage_total_bytes,
        free_bytes=storage.storage_free_bytes,
        measured_at=storage.storage_measured_at,
        measure_error=storage.storage_measure_error or "",
        in_flight_bytes=in_flight,
    )


def use_added(use: StorageUse, incoming: int | None) -> StorageUse:
    """``use`` with one more copy of ``incoming`` bytes on its way (a placement counting what it
    has asked for)."""
    size = incoming or 0
    used = use.used_bytes + size
    pct = use_pct(used, use.capacity)
    return replace(use, used_bytes=used, pct=pct, level=use_level(pct), in_flight_bytes=use.in_flight_bytes + size)


def _sums(storage_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """(READY bytes, INITIALISED bytes) of each storage, in one aggregate over the
    ``data_item_storage_use`` index."""
    found: dict[uuid.UUID, tuple[int, int]] = {}
    if not storage_ids:
        return found
    rows = (
        DataItem.objects.filter(storage_id__in=storage_ids, item_state__in=USE_STATES)
        .order_by()
        .values_list("storage_id", "item_state")
        .annotate(total=Sum("item_size"))
    )
    for storage_id, state, total in rows:
        ready, in_flight = found.get(storage_id, (0, 0))
        if state == ItemState.READY:
            ready += int(total or 0)
        else:
            in_flight += int(total or 0)
        found[storage_id] = (ready, in_flight)
    return found


def _state_sum(state: str) -> Coalesce:
    sums = (
        DataItem.objects.filter(storage_id=OuterRef("pk"), item_state=state)
        .order_by()
        .values("storage_id")
        .annotate(total=Sum("item_size"))
        .values("total")
    )
    return Coalesce(Subquery(sums, output_field=BigIntegerField()), Value(0), output_field=BigIntegerField())


def storages_with_use(storages: QuerySet) -> QuerySet:
    """A storage queryset with each storage's use in it (correlated sums over the
    ``data_item_storage_use`` index), so that ``storages_use`` of its storages asks nothing more:
    for pages that read their storages in one query anyway."""
    return storages.annotate(
        use_ready_bytes=_state_sum(ItemState.READY), use_in_flight_bytes=_state_sum(ItemState.INITIALISED)
    )


def storages_use(storages: Iterable[Storage]) -> dict[uuid.UUID, StorageUse]:
    """The use of each storage, by storage_id, in one query (none for storages read with
    ``storages_with_use``)."""
    storages = list(storages)
    if all(hasattr(storage, "use_ready_bytes") for storage in storages):  # ``storages_with_use``
        sums = {s.storage_id: (s.use_ready_bytes, s.use_in_flight_bytes) for s in storages}
    else:
        sums = _sums([storage.storage_id for storage in storages])
    return {storage.storage_id: _use(storage, *sums.get(storage.storage_id, (0, 0))) for storage in storages}


# The cache key of the catalogue's use of every storage, as ``storages_use_recent`` last summed it.
RECENT_USE_KEY = "dlm:storages-use"


def storages_use_recent(storages: Iterable[Storage]) -> dict[uuid.UUID, StorageUse]:
    """``storages_use``, from sums of at most ``DLM_STORAGE_USE_CACHE_SECONDS`` ago (made afresh for
    all the storages when older, or when one is missing): for the dashboard, which every visitor
    opens, where summing each storage's copies (every READY row's index entry: 0.15 s at
    1,000,000 items) on every view would be most of its time. Admission checks and the storage
    pages sum now."""
    storages = list(storages)
    seconds = settings.DLM_STORAGE_USE_CACHE_SECONDS
    sums = cache.get(RECENT_USE_KEY) if seconds else None
    if sums is None or any(str(storage.storage_id) not in sums for storage in storages):
        found = _sums([storage.storage_id for storage in storages])
        sums = {str(storage.storage_id): found.get(storage.storage_id, (0, 0)) for storage in storages}
        if seconds:
            cache.set(RECENT_USE_KEY, sums, seconds)
    return {storage.storage_id: _use(storage, *sums[str(storage.storage_id)]) for storage in storages}


def storage_use(storage: Storage) -> StorageUse:
    """The use of one storage (one query)."""
    return storages_use([storage])[storage.storage_id]


# Columns that a storage query read through ``storages_with_use`` adds to the API's rows, for
# ``rows_with_use_pct`` (which takes them out again).
USE_COLUMNS = [("_use_ready_bytes", "use_ready_bytes"), ("_use_in_flight_bytes", "use_in_flight_bytes")]


def rows_with_use_pct(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Storage rows as the API answers them (``catalogue.rows.STORAGE_COLUMNS``), each with its
    ``storage_use_pct`` computed now (``use_pct_column``): from the ``USE_COLUMNS`` of a query
    read through ``storages_with_use`` (no query more), else in one aggregate for all of them."""
    missing = [uuid.UUID(str(row["storage_id"])) for row in rows if USE_COLUMNS[0][0] not in row]
    sums = _sums(missing) if missing else {}
    for row in rows:
        if USE_COLUMNS[0][0] in row:
            ready, in_flight = (int(row.pop(key) or 0) for key, _ in USE_COLUMNS)
        else:
            ready, in_flight = sums.get(uuid.UUID(str(row["storage_id"])), (0, 0))
        row["storage_use_pct"] = use_pct_column(use_pct(ready + in_flight, row.get("storage_capacity")))
    return rows


def use_refusal(use: StorageUse, name: str, incoming_bytes: int | None = None) -> str | None:
    """Why storage ``name``, used as ``use`` says, cannot take a new copy or registration of
    ``incoming_bytes`` (None: the size does not count, only the storage's use now), or None."""
    high = settings.DLM_STORAGE_HIGH_PCT
    if use.pct is not None and use.pct > high:
        return (
            f"Storage {name} is {use.pct:.1f} % full ({human_size(use.used_bytes)} of {human_size(use.capacity)}), "
            f"above its high watermark of {high:g} %: it takes no new copies or registrations"
        )
    if not incoming_bytes:
        return None
    after = use_pct(use.used_bytes + incoming_bytes, use.capacity)
    if after is not None and after > high:
        return (
            f"Storage {name} is {use.pct:.1f} % full ({human_size(use.used_bytes)} of {human_size(use.capacity)}): "
            f"{human_size(incoming_bytes)} more would bring it to {after:.1f} %, above its high watermark of {high:g} %"
        )
    if use.free_bytes is not None:
        room = use.free_bytes - use.in_flight_bytes
        if incoming_bytes > room:
            when = f" at {use.measured_at:%Y-%m-%d %H:%M} UTC" if use.measured_at else ""
            pending = (
                f", {human_size(use.in_flight_bytes)} of it awaited by copies under way" if use.in_flight_bytes else ""
            )
            shown = f"{use.pct:.1f} % full, " if use.pct is not None else ""
            return (
                f"Storage {name} ({shown}{human_size(use.free_bytes)} free as measured{when}{pending}) "
                f"has no room for {human_size(incoming_bytes)}"
            )
    return None


# The admission checks' recent figures, by storage: (when summed, the storage's capacity and free
# space then, the use, with what this process has let in since). Summing a storage's copies reads
# its whole index range (about 20 ms per 100,000 copies), too much for every registration; a
# recent figure answers while the storage is well clear of its limits, and the sum is made afresh
# near them (``_clearly_fits``). What other processes let in meanwhile is seen at the next sum.
_RECENT: dict[uuid.UUID, tuple[float, int | None, int | None, StorageUse]] = {}
# How close to the high watermark (percentage points) or to the measured free space (its share) a
# recent figure no longer answers.
NEAR_HIGH_POINTS = 5.0
NEAR_FREE_SHARE = 0.9


def _recent_use(storage: Storage) -> StorageUse | None:
    seen = _RECENT.get(storage.storage_id)
    if seen is None:
        return None
    at, capacity_then, free_then, use = seen
    fresh = time.monotonic() - at < settings.DLM_STORAGE_USE_CACHE_SECONDS
    if not fresh or capacity_then != storage.storage_capacity or free_then != storage.storage_free_bytes:
        return None
    return use


def _clearly_fits(use: StorageUse, incoming: int | None) -> bool:
    """Whether ``incoming`` bytes fit with room to spare for what may have come since ``use`` was
    summed: well below the high watermark, and well within the measured free space."""
    size = incoming or 0
    after = use_pct(use.used_bytes + size, use.capacity)
    if after is not None and after > settings.DLM_STORAGE_HIGH_PCT - NEAR_HIGH_POINTS:
        return False
    if use.free_bytes is not None and size > NEAR_FREE_SHARE * (use.free_bytes - use.in_flight_bytes):
        return False
    return True


def storage_room_refusal(storage: Storage, incoming_bytes: int | None = None) -> str | None:
    """Why a new copy or registration of ``incoming_bytes`` cannot go to ``storage``, or None:
    the storage is above ``DLM_STORAGE_HIGH_PCT`` (or these bytes would take it there), or they
    would not fit in its measured free space. Without a capacity (``storage_capacity`` <= 0)
    and without a measured free space (or a size to fit), it costs no query and refuses nothing.
    Else a use summed in the last ``DLM_STORAGE_USE_CACHE_SECONDS`` answers while the storage is
    well clear of its limits, and one aggregate over the ``data_item_storage_use`` index
    otherwise: a refusal is always judged on the use now."""
    limited = storage.storage_capacity is not None and storage.storage_capacity > 0
    if not limited and (storage.storage_free_bytes is None or not incoming_bytes):
        return None
    recent = _recent_use(storage)
    if recent is not None and _clearly_fits(recent, incoming_bytes):
        at = _RECENT[storage.storage_id][0]
        refusal = None
        use = recent
    else:
        at, use = time.monotonic(), storage_use(storage)
        refusal = use_refusal(use, storage.storage_name, incoming_bytes)
    if refusal is None and incoming_bytes:  # what this process lets in counts until the next sum
        use = use_added(use, incoming_bytes)
    _RECENT[storage.storage_id] = (at, storage.storage_capacity, storage.storage_free_bytes, use)
    return refusal


# --- measuring --------------------------------------------------------------------------------


def _measured(config: dict[str, Any]) -> tuple[int | None, int | None, str]:
    """(total, free, why not) as rclone ``about`` answers for a remote."""
    try:
        about = rclone.about(config)
    except rclone.RcloneError as exc:
        return None, None, f"rclone about failed: {exc}"
    if about is None:
        return None, None, f"the {config.get('type', '?')} backend does not report its space (rclone about)"
    total, free = about.get("total"), about.get("free")
    if total is None and free is None:
        return None, None, "the backend reports neither its total nor its free space"
    return (int(total) if total is not None else None), (int(free) if free is not None else None), ""


def storages_measure(*, storages: Iterable[Storage] | None = None) -> dict[str, Any]:
    """Ask each storage's backend (every storage with an rclone config, or those of
    ``storages``) for its total and free space, and keep the answer on the storage with the time
    it was asked; where the backend cannot tell, the reason, and no figures (an old figure could
    refuse copies wrongly). Each storage's ``storage_use_pct`` is set to its use now as well.
    Answers ``{"measured": [names], "not_measured": {name: reason}}``; never raises for a
    backend's failure."""
    chosen = list(Storage.objects.all() if storages is None else storages)
    configured = set(
        StorageConfig.objects.filter(storage__in=[s.pk for s in chosen], config_type=ConfigType.RCLONE).values_list(
            "storage_id", flat=True
        )
    )
    uses = storages_use(chosen)
    result: dict[str, Any] = {"measured": [], "not_measured": {}}
    for storage in chosen:
        fields: dict[str, Any] = {"storage_use_pct": Decimal(str(use_pct_column(uses[storage.storage_id].pct)))}
        if storage.storage_id in configured:
            try:
                [config] = storage_remotes(storage)
            except (UnmetPreconditionForOperation, SecretDecryptionError) as exc:
                total, free, error = None, None, f"its rclone config cannot be used: {exc}"
            else:
                total, free, error = _measured(config)
            fields.update(
                storage_total_bytes=total,
                storage_free_bytes=free,
                storage_measured_at=timezone.now(),
                storage_measure_error=error,
            )
            if error:
                result["not_measured"][storage.storage_name] = error
            else:
                result["measured"].append(storage.storage_name)
        Storage.objects.filter(pk=storage.pk).update(**fields)
        for name, value in fields.items():
            setattr(storage, name, value)
    if result["not_measured"]:
        log.info("storage space not measured: %s", result["not_measured"])
    return result

"""Where the lifecycle may put a new copy: the storages that can take one now, with their phase and
room (``catalogue.capacity``: none above its high watermark, nor beyond its measured free space),
and the choice among them for an object."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

from catalogue.capacity import StorageUse, storages_use, use_added, use_refusal
from catalogue.choices import ConfigType
from catalogue.models import Storage, StorageConfig
from catalogue.phases import weight


@dataclass
class Place:
    """A storage as a destination: whether it can take copies, and if not why."""

    storage_id: uuid.UUID
    name: str
    phase: str
    capacity: int  # bytes; -1 or 0: not limited
    use: StorageUse | None = None  # what DLM holds or is writing there (filled when first needed)
    refusal: str = ""  # why it takes no copy ("retired", "unreachable"…), empty when it does

    @property
    def used(self) -> int:
        return self.use.used_bytes if self.use else 0

    @property
    def free(self) -> float:
        if self.capacity <= 0:
            return math.inf
        return self.capacity - self.used

    def room_refusal(self, size: int | None) -> str | None:
        """Why ``size`` more bytes cannot go here (above the high watermark, over the capacity,
        beyond the measured free space), or None."""
        if self.capacity > 0 and self.used + (size or 0) > self.capacity:
            return "full"
        if self.use is None:
            return None
        return use_refusal(self.use, self.name, size)

    def fits(self, size: int | None) -> bool:
        return self.room_refusal(size) is None


class Places:
    """The storages of one pass (read once; their use counted when a choice first needs it)."""

    def __init__(self) -> None:
        configured = set(
            StorageConfig.objects.filter(config_type=ConfigType.RCLONE).values_list("storage_id", flat=True)
        )
        self.all: dict[uuid.UUID, Place] = {}
        self._storages: list[Storage] = []
        for storage in Storage.objects.all():
            place = Place(storage.storage_id, storage.storage_name, storage.storage_phase, storage.storage_capacity)
            if storage.storage_retired:
                place.refusal = "retired"
            elif not storage.storage_available:
                place.refusal = "not available"
            elif storage.storage_last_checked is not None and not storage.storage_checked:
                place.refusal = "unreachable at its last check"
            elif storage.storage_id not in configured:
                place.refusal = "no rclone config"
            self.all[storage.storage_id] = place
            self._storages.append(storage)
        self._measured = False

    def _measure(self) -> None:
        """Each storage's use (``catalogue.capacity``: READY and INITIALISED copies), in one query
        over the storages that have a capacity or a measured free space."""
        if self._measured:
            return
        bounded = [s for s in self._storages if s.storage_capacity > 0 or s.storage_free_bytes is not None]
        for storage_id, use in storages_use(bounded).items():
            self.all[storage_id].use = use
        self._measured = True

    def choose(
        self,
        *,
        exclude: set[uuid.UUID],
        size: int | None,
        name_taken: set[uuid.UUID] = frozenset(),
        have: str,
        target: str | None = None,
        min_phase: str | None = None,
        storage_id: uuid.UUID | None = None,
    ) -> tuple[Place | None, str]:
        """The storage for one more copy of an object at phase ``have``: ``storage_id`` if named,
        else among those of ``min_phase`` or more, first those that bring the object to
        ``target`` with this one copy, then by phase (highest first), then by free room (most
        first). Never a storage in ``exclude`` (it holds a copy, or one is on its way), nor one
        that is retired, unavailable, unreachable, without an rclone config, without room for
        ``size`` bytes, or where the object's name is taken (``name_taken``: one name per storage,
        and a deleted copy keeps its record). The place, or None and why."""
        self._measure()
        if storage_id is not None:
            place = self.all.get(storage_id)
            if place is None:
                return None, "its storage no longer exists"
            if place.storage_id in exclude:
                return None, f"{place.name} holds a copy already, or one is on its way"
            if place.storage_id in name_taken:
                return None, f"{place.name} has its name taken (a deleted copy's record, or another item)"
            if place.refusal:
                return None, f"{place.name} takes no copy: {place.refusal}"
            room = place.room_refusal(size)
            if room:
                return None, f"{place.name} takes no copy: {room}"
            return place, ""
        floor = weight(min_phase) if min_phase else 0
        open_places, reasons = [], []
        for place in self.all.values():
            if place.storage_id in exclude or weight(place.phase) < floor:
                continue
            if place.refusal:
                reasons.append(f"{place.name} ({place.refusal})")
            elif place.storage_id in name_taken:
                reasons.append(f"{place.name} (its name is taken there: a deleted copy's record, or another item)")
            elif (room := place.room_refusal(size)) is not None:
                reasons.append(f"{place.name} ({room})")
            else:
                open_places.append(place)
        if not open_places:
            wanted = f" of phase {min_phase} or more" if min_phase else ""
            why = f"no storage{wanted} can take a copy"
            return None, why + (": " + ", ".join(sorted(reasons)) if reasons else " (none other exists)")
        need = weight(target) - weight(have) if target else 0

        def rank(place: Place) -> tuple:
            return (weight(place.phase) < need, -weight(place.phase), -place.free, place.name)

        return min(open_places, key=rank), ""

    def take(self, place: Place, size: int | None) -> None:
        """Count a copy on its way to ``place`` in its use."""
        if place.use is not None:
            place.use = use_added(place.use, size)

"""Test data, made through the same services the API uses."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from django.utils import timezone

from catalogue import services
from catalogue.models import DataItem, Location, Storage
from migrations_app.models import Migration
from migrations_app.states import FINISHED, WORKING, JobState

_seq = itertools.count(1)


def make_location(**overrides: Any) -> Location:
    values = {"location_name": f"loc-{next(_seq)}", "location_type": "local-dev", "location_country": "AU"}
    return services.location_create(**{**values, **overrides})


def make_storage(location: Location | None = None, **overrides: Any) -> Storage:
    location = location or make_location()
    values = {
        "storage_name": f"store-{next(_seq)}",
        "storage_type": "filesystem",
        "storage_interface": "posix",
        "root_directory": "/data",
        "location_id": location.location_id,
    }
    return services.storage_create(**{**values, **overrides})


def make_item(storage: Storage | None = None, **fields: Any) -> DataItem:
    values = {"item_name": f"item-{next(_seq)}", "storage_id": storage.storage_id if storage else None}
    return services.data_item_insert(fields={**values, **fields})


# The destination copy's state once its job has ended.
_COPY_STATE = {JobState.COMPLETED: "READY", JobState.FAILED: "CORRUPTED", JobState.CANCELLED: "CORRUPTED"}


def make_copy_job(
    source: DataItem | Storage | None = None,
    destination: Storage | None = None,
    *,
    state: str = JobState.QUEUED,
    copy: dict[str, Any] | None = None,
    **fields: Any,
) -> Migration:
    """A copy job's row, as the services and the runner leave it in ``state``.

    ``source`` is the copy it copies (a ``DataItem`` on a storage), or only the storage it copies
    from: then neither end is in the catalogue and the uids are fresh. By default, a READY item on
    a new storage. ``destination`` is the storage it copies to (a new one by default). With a
    source item, the destination copy is made there as ``copy_job_create`` makes it (the source's
    name, uri, type and size; its oid the source's uid), INITIALISED while the job is active,
    READY once it completed, CORRUPTED once it failed or was cancelled (a failed job's copy kept,
    as when something refers to it); ``copy`` overrides its columns. ``fields`` override the job's
    columns; by default a job that a worker holds has a fresh heartbeat and one attempt, and an
    ended one is ``complete`` with its end times set.
    """
    if source is None:
        source = make_item(make_storage(), item_state="READY", uri=f"obs/item-{next(_seq)}", item_size=1234)
    destination = destination or make_storage()
    now = timezone.now()
    values: dict[str, Any] = {"destination_storage": destination, "state": state}
    if isinstance(source, Storage):
        values.update(oid=uuid.uuid4(), source_storage=source, source_uid=uuid.uuid4(), destination_uid=uuid.uuid4())
    else:
        target = make_item(
            destination,
            **{
                "item_name": source.item_name,
                "uri": source.uri,
                "oid": source.uid,
                "item_type": source.item_type,
                "item_size": source.item_size,
                "item_state": _COPY_STATE.get(state, "INITIALISED"),
                **(copy or {}),
            },
        )
        values.update(
            oid=source.oid,
            source_storage=source.storage,
            source_uid=source.uid,
            destination_uid=target.uid,
            destination_path=target.uri or "",
            bytes_total=source.item_size,
        )
    if state in WORKING:
        values.update(attempts=1, started_at=now, heartbeat_at=now)
    if state in FINISHED:
        values.update(attempts=1, complete=True, finished_at=now, completion_date=now)
    return Migration.objects.create(**{**values, **fields})


def job_callbacks(callbacks: list) -> list:
    """The on-commit callbacks captured, less the outbox relay's (``core.events.relay_soon``),
    which any change that emits an event adds."""
    from core.events import relay_soon

    return [callback for callback in callbacks if callback is not relay_soon]

"""Start-up provisioning from the ``LOCATION_CONFIG`` and ``STORAGE_CONFIG`` files (as upstream).

Idempotent: what exists is left alone, so the run command can load the files at every start.

Remotes are not required to be up: unlike ``create_storage_config``, a config from the file is
stored even when rclone cannot reach its remote (which is then logged as a warning, with rclone's
reason, and recorded on the storage as ``storage_checked`` false), so that a remote that is
briefly down cannot stop the service from starting.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from django.db import transaction

from catalogue.models import Location, Storage, StorageConfig
from catalogue.services.locations import location_create
from catalogue.services.storages import storage_check_access, storage_config_create, storage_create
from core.errors import DataLifecycleError, FieldError, FieldErrors, field_errors

log = logging.getLogger("catalogue.bootstrap")


class BootstrapError(ValueError):
    """A provisioning file or one of its entries is unusable; the message names which."""


def _load(path: Path, what: str) -> list[dict[str, Any]]:
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BootstrapError(f"{what} {path}: {exc}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BootstrapError(f"{what} {path}: must be a JSON list of objects")
    return entries


def _entry_error(what: str, index: int, entry: dict[str, Any], exc: Exception) -> BootstrapError:
    if isinstance(exc, FieldError | FieldErrors):
        reason = "; ".join(f"{'.'.join(map(str, (e.field, *e.at)))}: {e.message}" for e in field_errors(exc))
    else:
        reason = str(exc)
    return BootstrapError(f"{what} entry #{index} (name {entry.get('name')!r}): {reason}")


def _check_types(entry: dict[str, Any], text_keys: tuple[str, ...]) -> None:
    """Text where text is meant, an object for ``config``: nothing is stored stringified."""
    for key in text_keys:
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise BootstrapError(f"{key} must be a string, not {entry[key]!r}")
    if entry.get("config") is not None and not isinstance(entry["config"], dict):
        # Only the type is named: the value may be a remote written as text, secrets and all.
        raise BootstrapError(f"config must be an rclone remote object, not {type(entry['config']).__name__}")


@transaction.atomic
def catalogue_bootstrap(*, location_file: Path | None, storage_file: Path | None) -> dict[str, int]:
    """Create the locations, storages and configs the files describe and the catalogue lacks.

    All or nothing: an error in any entry leaves the catalogue as it was. A remote that rclone
    cannot reach is not an error: the config is stored all the same and a warning is logged.
    """
    created = {"locations": 0, "storages": 0, "configs": 0}
    for index, entry in enumerate(_load(location_file, "LOCATION_CONFIG") if location_file else []):
        try:
            _check_types(entry, ("name", "type", "country", "city", "facility"))
            if Location.objects.filter(location_name=entry.get("name")).exists():
                continue
            location_create(
                location_name=entry.get("name") or "",
                location_type=entry.get("type") or "",
                location_country=entry.get("country"),
                location_city=entry.get("city") or "",
                location_facility=entry.get("facility") or "",
            )
        except (DataLifecycleError, FieldError, FieldErrors, BootstrapError) as exc:
            raise _entry_error("LOCATION_CONFIG", index, entry, exc) from None
        created["locations"] += 1
    for index, entry in enumerate(_load(storage_file, "STORAGE_CONFIG") if storage_file else []):
        try:
            _check_types(entry, ("name", "location", "storage_type", "interface", "root_directory", "storage_phase"))
            storage = Storage.objects.filter(storage_name=entry.get("name")).first()
            if storage is None:
                location = Location.objects.filter(location_name=entry.get("location")).first()
                if location is None:
                    raise BootstrapError(f"location {entry.get('location')!r} does not exist")
                storage = storage_create(
                    storage_name=entry.get("name") or "",
                    storage_type=entry.get("storage_type") or "",
                    storage_interface=entry.get("interface") or "",
                    root_directory=entry.get("root_directory") or "",
                    location_id=location.location_id,
                    storage_phase=str(entry.get("storage_phase") or "SOLID").upper(),
                )
                created["storages"] += 1
            if entry.get("config") and not StorageConfig.objects.filter(storage=storage).exists():
                storage_config_create(config=entry["config"], storage_id=storage.storage_id, check_remote=False)
                created["configs"] += 1
                access = storage_check_access(storage=storage)
                if not access["reachable"]:
                    log.warning(
                        "STORAGE_CONFIG entry #%d: storage %r is stored, but its remote is not reachable now: %s",
                        index,
                        storage.storage_name,
                        access["error"],
                    )
        except (DataLifecycleError, FieldError, FieldErrors, BootstrapError) as exc:
            raise _entry_error("STORAGE_CONFIG", index, entry, exc) from None
    return created

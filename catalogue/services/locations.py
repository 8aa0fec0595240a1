"""Locations: created, changed and deleted under the same rules by the API, the web UI and the
admin."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from catalogue.models import Location, LocationFacility
from catalogue.services.fields import columns_assign, model_clean, row_delete, row_locked, row_save
from core.errors import (
    DatabaseOperationError,
    FieldError,
    InvalidQueryParameters,
    UnmetPreconditionForOperation,
    ValueAlreadyInDB,
)


def _taken(location_name: str) -> ValueAlreadyInDB:
    return ValueAlreadyInDB(f"A location with this name exists already: {location_name}", field="location_name")


def _location_check(location: Location) -> None:
    """The rules a location row obeys, in the order the API has always checked them."""
    for name in ("location_name", "location_type"):
        if not getattr(location, name):
            raise InvalidQueryParameters("location_name and location_type cannot be empty", field=name)
    facility = location.location_facility_id
    if facility and not LocationFacility.objects.filter(id=facility).exists():
        known = ", ".join(LocationFacility.objects.values_list("id", flat=True))
        raise DatabaseOperationError(
            'insert or update on table "location" violates foreign key constraint: '
            f"location_facility {facility!r} is not a known facility (known: {known})",
            field="location_facility",
        )
    if Location.objects.filter(location_name=location.location_name).exclude(pk=location.pk).exists():
        raise _taken(location.location_name)
    model_clean(location)  # lengths: PostgreSQL would refuse an over-long name with a 500


def location_create(
    *,
    location_name: str,
    location_type: str,
    location_country: str | None = None,
    location_city: str = "",
    location_facility: str = "",
    fields: dict[str, Any] | None = None,
) -> Location:
    """Create a location. Its name must be new; a facility must be one of the known facilities.

    ``fields`` sets further columns by attribute name (the admin's form has them all).
    """
    location = Location(
        location_name=location_name,
        location_type=location_type,
        location_country=location_country,
        location_city=location_city or None,
        location_facility_id=location_facility or None,
    )
    columns_assign(location, fields or {})
    _location_check(location)
    row_save(location, taken=_taken(location.location_name))
    return location


def location_update(*, location_id: uuid.UUID, fields: dict[str, Any]) -> Location:
    """Set ``fields`` (values by attribute name) on a location, under the rules of
    ``location_create``; only those columns are written."""
    with transaction.atomic():
        location = row_locked(Location, location_id, field="location_id")
        names = columns_assign(location, fields)
        _location_check(location)
        row_save(location, taken=_taken(location.location_name), update_fields=names)
    return location


def location_delete(*, location_id: uuid.UUID) -> None:
    """Delete a location that hosts no storage (a storage's location is never left dangling)."""
    with transaction.atomic():
        location = row_locked(Location, location_id, field="location_id")
        hosting = UnmetPreconditionForOperation(f"{location.location_name}: it hosts storages", field="location_id")
        if location.storages.exists():
            raise hosting
        row_delete(location, refusal=hosting)


def facility_create(*, facility_id: str) -> LocationFacility:
    """Add a facility that locations may name: a non-empty name not taken yet."""
    facility = LocationFacility(id=facility_id.strip())
    if not facility.id:
        raise FieldError("id", "missing", "A facility needs a name", facility_id)
    model_clean(facility)
    taken = ValueAlreadyInDB(f"A facility with this name exists already: {facility.id}", field="id")
    if LocationFacility.objects.filter(pk=facility.id).exists():
        raise taken
    row_save(facility, taken=taken)
    return facility


def facility_delete(*, facility_id: str) -> None:
    """Delete a facility that no location names."""
    with transaction.atomic():
        facility = row_locked(LocationFacility, facility_id, field="id")
        named = UnmetPreconditionForOperation(f"{facility.id}: locations name it", field="id")
        if facility.locations.exists():
            raise named
        row_delete(facility, refusal=named)

"""Locations."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from catalogue.columns import validate_instance
from catalogue.models import Location, LocationFacility
from core.errors import DatabaseOperationError, InvalidQueryParameters, ValueAlreadyInDB


def location_create(
    *,
    location_name: str,
    location_type: str,
    location_country: str | None = None,
    location_city: str = "",
    location_facility: str = "",
) -> Location:
    """Create a location. Its name must be new; a facility must be one of the known facilities."""
    if not location_name or not location_type:
        raise InvalidQueryParameters("location_name and location_type cannot be empty")
    if location_facility and not LocationFacility.objects.filter(id=location_facility).exists():
        known = ", ".join(LocationFacility.objects.values_list("id", flat=True))
        raise DatabaseOperationError(
            'insert or update on table "location" violates foreign key constraint: '
            f"location_facility {location_facility!r} is not a known facility (known: {known})"
        )
    if Location.objects.filter(location_name=location_name).exists():
        raise ValueAlreadyInDB(f"A location with this name exists already: {location_name}")
    location = Location(
        location_name=location_name,
        location_type=location_type,
        location_country=location_country,
        location_city=location_city or None,
        location_facility_id=location_facility or None,
    )
    validate_instance(location)  # lengths: PostgreSQL would refuse an over-long name with a 500
    try:
        with transaction.atomic():
            location.save(force_insert=True)
    except IntegrityError:  # a concurrent request created the same name first
        raise ValueAlreadyInDB(f"A location with this name exists already: {location_name}") from None
    return location

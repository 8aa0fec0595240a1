"""OpenAPI descriptions of the rows and scalars the catalogue API returns."""

from __future__ import annotations

from catalogue.models import DataItem, Location, Storage
from catalogue.rows import DATA_ITEM_COLUMNS, LOCATION_COLUMNS, STORAGE_COLUMNS
from core.schemas import row_schema

LOCATION_ROW = row_schema(Location, LOCATION_COLUMNS)
STORAGE_ROW = row_schema(Storage, STORAGE_COLUMNS)
DATA_ITEM_ROW = row_schema(DataItem, DATA_ITEM_COLUMNS)

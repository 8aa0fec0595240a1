"""New copies' rows written to the ``data_item`` table, and their creation recorded in the audit
trail, as ``bulk_create`` would write them, without its cost: a prepared insert run for each row,
or, for many rows on PostgreSQL, one binary COPY. ``data_items`` decides what is inserted."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, models

from audit.recording import created_recorded
from catalogue.models import DataItem
from core.actor import current_actor
from core.jsontext import dumps
from core.pgcopy import copy_rows, pg_type

# From this many rows on, PostgreSQL takes them by COPY: for the 10,000 items of a large
# registration, the ORM's statement building and parameter quoting cost more than the insert.
COPY_FROM = 100


def rows_insert(items: list[DataItem]) -> None:
    """Insert ``items`` (their values final) and record their creation, by COPY from ``COPY_FROM``
    rows on PostgreSQL, else by a prepared insert."""
    if len(items) >= COPY_FROM and connection.vendor == "postgresql":
        _copy_in(items)
    else:
        _insert_many(items)


def _copy_in(items: list[DataItem]) -> None:
    """Insert ``items`` with one binary COPY (PostgreSQL), then record their creation in the audit
    trail as ``bulk_create`` would."""
    fields = DataItem._meta.concrete_fields
    json_at = [index for index, field in enumerate(fields) if isinstance(field, models.JSONField)]
    values = attrgetter(*(field.attname for field in fields))

    def rows() -> Iterator[list[Any]]:
        for item in items:
            row = list(values(item))
            for index in json_at:
                if row[index] is not None:
                    row[index] = dumps(row[index])  # jsonb: the text's spacing is not kept
            yield row

    with connection.cursor() as cursor:
        types = [pg_type(field, connection) for field in fields]
        copy_rows(cursor.cursor, DataItem._meta.db_table, [field.column for field in fields], types, rows())
    for item in items:
        item._state.adding = False
    actor = current_actor()
    if actor is not None:
        created_recorded(items, actor, using=DEFAULT_DB_ALIAS)


def _db_value_makers(fields: Iterable[models.Field]) -> list[Callable[[Any], Any] | None]:
    """For each field, how a Python value becomes the value the database driver takes, as the
    field's ``get_db_prep_save`` would make it, without its per-value cost for the common column
    types (text, numbers, uuids, times, JSON): None where the driver takes the value as it is; any
    other type goes through the field itself. A time is made once for all the rows that share it
    (a registration's creation and check times: 10,000 rows' times cost SQLite's adapter 0.3 s)."""
    ops, native_uuid = connection.ops, connection.features.has_native_uuid_field
    times: dict[Any, Any] = {}

    def plain(value: Any) -> Any:
        return str(value) if isinstance(value, str) else value  # a choice's enum member: its text

    def time_value(value: Any) -> Any:
        if value is None:
            return None
        made = times.get(value)
        if made is None:
            made = times[value] = ops.adapt_datetimefield_value(value)
        return made

    def maker(field: models.Field) -> Callable[[Any], Any] | None:
        if isinstance(field, models.JSONField):  # as the ORM writes it: SQLite's equality filters compare the text
            encoder = field.encoder
            return lambda value: None if value is None else ops.adapt_json_value(value, encoder)
        if isinstance(field, models.UUIDField) or (
            isinstance(field, models.ForeignKey) and isinstance(field.target_field, models.UUIDField)
        ):
            return None if native_uuid else (lambda value: None if value is None else value.hex)
        if isinstance(field, models.DateTimeField):
            return time_value
        if type(field) in (models.CharField, models.TextField, models.BooleanField) or isinstance(
            field, models.IntegerField
        ):
            return plain if field.choices else None
        return lambda value: field.get_db_prep_save(value, connection)

    return [maker(field) for field in fields]


# ``_insert_many``'s statement, by database vendor: written once.
_INSERTS: dict[str, str] = {}


def _insert_many(items: list[DataItem]) -> None:
    """Insert ``items`` with one prepared statement run for each row, then record their creation
    in the audit trail, as ``bulk_create`` would (for which Django prepares each value through its
    field again and writes a statement for each batch: 40 % of a single registration's time)."""
    fields = DataItem._meta.concrete_fields
    makers = _db_value_makers(fields)
    statement = _INSERTS.get(connection.vendor)
    if statement is None:
        columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
        marks = ", ".join(["%s"] * len(fields))
        statement = _INSERTS[connection.vendor] = f"INSERT INTO data_item ({columns}) VALUES ({marks})"
    values = attrgetter(*(field.attname for field in fields))
    converted = [(index, make) for index, make in enumerate(makers) if make is not None]
    rows = []
    for item in items:
        row = list(values(item))
        for index, make in converted:
            row[index] = make(row[index])
        rows.append(row)
    with connection.cursor() as cursor:
        cursor.executemany(statement, rows)
    for item in items:
        item._state.adding, item._state.db = False, DEFAULT_DB_ALIAS
    actor = current_actor()
    if actor is not None:
        created_recorded(items, actor, using=DEFAULT_DB_ALIAS)

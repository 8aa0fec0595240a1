"""The rows the API returns, with upstream's column names and JSON forms.

uuids are strings, timestamps are naive UTC ISO text (as PostgREST printed upstream's
``timestamp without time zone``), numerics are numbers. Rows are built from ``.values()`` so that a
query returns exactly the columns it shows, without model instances. A row's columns are given as
``(JSON key, ORM attribute)`` pairs, in the order the contract lists them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from core.fastsql import values


def json_value(value: Any) -> Any:
    """One column value in its JSON form."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def rows(queryset: QuerySet, columns: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The queryset's rows as JSON objects with the given columns: the same rows as ``orm_rows``.

    Simple querysets (all the API's lookups) run as cached SQL with the ORM's conversions
    (``core.fastsql.fetch``, which says what it saves); the others through the ORM as usual.
    """
    return _json_rows(values(queryset, [attr for _, attr in columns]), columns)


def orm_rows(queryset: QuerySet, columns: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """``rows`` through the ORM alone."""
    return _json_rows(queryset.values_list(*[attr for _, attr in columns]), columns)


def _json_rows(records: Iterable[tuple], columns: list[tuple[str, str]]) -> list[dict[str, Any]]:
    keys = [key for key, _ in columns]
    return [{key: json_value(value) for key, value in zip(keys, record, strict=True)} for record in records]


def row_of(instance: Any, columns: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """One model instance as a JSON row."""
    return {key: json_value(getattr(instance, attr)) for key, attr in columns}

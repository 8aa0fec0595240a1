"""Values as the audit trail keeps them: JSON-ready, with secrets masked."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import models

from core.secrets import MASK


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: uuids as text, timestamps as ISO text (UTC when aware),
    decimals as numbers, durations in seconds, model instances as their primary key."""
    kind = type(value)  # the common types first, by identity: snapshots of 10,000 rows come through here
    if kind is str:
        return value if "\x00" not in value else value.replace("\x00", "\ufffd")  # jsonb refuses NUL
    if value is None or kind is int or kind is bool:
        return value
    if kind is uuid.UUID:
        return str(value)
    if kind is datetime:
        return (value if value.tzinfo is UTC or value.tzinfo is None else value.astimezone(UTC)).isoformat()
    if kind is dict:
        return {str(key): jsonable(item) for key, item in value.items()}
    return _jsonable_other(value)


def _jsonable_other(value: Any) -> Any:
    if isinstance(value, str):  # a subclass: TextChoices members
        return jsonable(str.__str__(value))
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):  # IntegerChoices members
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, models.Model):
        return jsonable(value.pk)
    if isinstance(value, bytes | memoryview):
        return f"<{len(value)} bytes>"
    return str(value)


def masked(value: Any) -> Any:
    """A secret column's value as shown: ``"***"`` (None when there is no value at all)."""
    return None if value is None else MASK

"""Parsing of query-string values the way ska-dlm's clients expect (pydantic's lax mode).

Each parser takes the raw text and returns the value, or raises ``ParamError`` with the
contract's error ``type`` and message. The rules are written down in README (API conventions).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

from django.db import models


class ParamError(ValueError):
    """A value that cannot be parsed; ``kind`` and ``msg`` go into the 422 ``detail`` entry."""

    def __init__(self, kind: str, msg: str, ctx: dict | None = None) -> None:
        super().__init__(msg)
        self.kind = kind
        self.msg = msg
        self.ctx = ctx


_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ParamError("bool_parsing", "Input should be a valid boolean, unable to interpret input")


_INT = re.compile(r"^[+-]?\d+(_\d+)*$")
_INTEGRAL_FLOAT = re.compile(r"^[+-]?\d+\.0*$")


def parse_int(raw: str) -> int:
    value = raw.strip()
    if _INT.match(value):
        return int(value)
    if _INTEGRAL_FLOAT.match(value):
        return int(value.split(".")[0])
    raise ParamError("int_parsing", "Input should be a valid integer, unable to parse string as an integer")


def parse_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        raise ParamError("uuid_parsing", "Input should be a valid UUID") from None


def enum_expected(choices: type[models.TextChoices]) -> str:
    quoted = [f"'{value}'" for value in choices.values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def parse_enum(raw: str, choices: type[models.TextChoices]) -> str:
    if raw in choices.values:
        return raw
    expected = enum_expected(choices)
    raise ParamError("enum", f"Input should be {expected}", {"expected": expected})


_DATETIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,6})\d*)?)?)?"
    r"\s*(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_datetime(raw: str) -> datetime:
    """An ISO-8601 timestamp (``T`` or space, optional seconds, fraction and offset), a date, or
    Unix seconds. The result is always aware: naive input is taken as UTC."""
    value = raw.strip()
    if re.fullmatch(r"[+-]?\d+(\.\d+)?", value):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ParamError("datetime_parsing", "Input should be a valid datetime, timestamp out of range") from None
    match = _DATETIME.match(value)
    if not match:
        raise ParamError("datetime_from_date_parsing", "Input should be a valid datetime or date, invalid format")
    parts = match.groupdict()
    try:
        year, month, day = (int(x) for x in parts["date"].split("-"))
        result = datetime(
            year,
            month,
            day,
            int(parts["h"] or 0),
            int(parts["m"] or 0),
            int(parts["s"] or 0),
            int((parts["frac"] or "0").ljust(6, "0")),
        )
    except ValueError as exc:
        raise ParamError("datetime_parsing", f"Input should be a valid datetime, {exc}") from None
    tz = parts["tz"]
    if not tz or tz in ("Z", "z"):
        return result.replace(tzinfo=UTC)
    sign = 1 if tz[0] == "+" else -1
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ParamError("datetime_parsing", "Input should be a valid datetime, invalid timezone offset")
    offset = timedelta(hours=hours, minutes=minutes) * sign
    result = result.replace(tzinfo=dt_timezone(offset))
    try:
        result.astimezone(UTC)  # stored as UTC: 9999-12-31T23:00-05:00 has no UTC form (was a 500)
    except OverflowError:
        raise ParamError("datetime_parsing", "Input should be a valid datetime, out of range in UTC") from None
    return result


_ISO_DURATION = re.compile(
    r"^(?P<sign>[+-])?P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_CLOCK = re.compile(
    r"^(?:(?P<sign>[+-]))?(?:(?P<d>\d+) days?,\s*)?(?P<h>\d+):(?P<m>\d{2})(?::(?P<s>\d{2}(?:\.\d+)?))?$"
)


def _delta(**parts: float) -> timedelta:
    try:
        return timedelta(**parts)
    except OverflowError:
        raise ParamError(
            "time_delta_parsing", "Input should be a valid timedelta, durations may not exceed 999,999,999 days"
        ) from None


def parse_timedelta(raw: str) -> timedelta:
    """An ISO-8601 duration (``P1D``, ``-PT1H``), ``HH:MM[:SS]`` or Python's ``1 day, 0:00:00``.

    A bare number is refused, as upstream does: the unit would be a guess."""
    value = raw.strip()
    match = _ISO_DURATION.match(value)
    if match and value not in ("P", "-P", "+P") and not value.endswith("T"):
        parts = {key: float(val) for key, val in match.groupdict().items() if val and key != "sign"}
        delta = _delta(
            weeks=parts.get("w", 0),
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
        return -delta if match.group("sign") == "-" else delta
    match = _CLOCK.match(value)
    if match:
        parts = match.groupdict()
        delta = _delta(
            days=int(parts["d"] or 0),
            hours=int(parts["h"]),
            minutes=int(parts["m"]),
            seconds=float(parts["s"] or 0),
        )
        return -delta if parts["sign"] == "-" else delta
    raise ParamError("time_delta_parsing", "Input should be a valid timedelta, invalid duration format")

"""``core.jsontext.dumps``: the JSON the standard library writes, whatever writes it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from core.jsontext import dumps

DJANGO = DjangoJSONEncoder().default

VALUES = {
    "plain": {"a": 1, "b": [True, None, 1.5, "x"], "c": {"d": -(2**63)}},
    "beyond ASCII": {"name": "ünïcödé-名前 \U0001f600", "quote": 'a "b" \\ c\n'},
    "an integer beyond 64 bits": {"big": 123456789012345678901234567890},
    "keys that are not text": {1: "one", None: "none", 2.5: "x", False: "f"},
    "an unpaired surrogate": {"half": "\ud83d"},
    "a uuid": {"uid": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    "a str subclass": {"state": type("State", (str,), {})("READY")},
}


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES)
def test_the_json_is_the_standard_librarys(value):
    expected = json.dumps(value, default=str)

    assert json.loads(dumps(value, default=str)) == json.loads(expected)


def test_times_and_other_types_go_to_default_as_django_writes_them():
    value = {
        "at": datetime(2026, 12, 7, 23, 7, 0, 123456, tzinfo=UTC),
        "day": date(2026, 12, 7),
        "size": Decimal("1.50"),
        "took": timedelta(seconds=90),
    }

    assert json.loads(dumps(value, DJANGO)) == json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    assert json.loads(dumps(value, DJANGO))["at"] == "2026-12-07T23:07:00.123Z"


def test_what_json_cannot_write_is_still_refused():
    with pytest.raises(TypeError):
        dumps({"at": datetime(2026, 12, 7, tzinfo=UTC)})
    with pytest.raises(TypeError):
        dumps({"raw": b"bytes"})

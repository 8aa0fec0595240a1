"""Query values are parsed as ska-dlm's clients expect (contract §2.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catalogue.choices import PhaseType
from core import params as p


@pytest.mark.parametrize(("raw", "value"), [("5", 5), ("-1", -1), ("+5", 5), (" 5", 5), ("5.0", 5), ("1_000", 1000)])
def test_int_accepts_lax_forms(raw, value):
    assert p.parse_int(raw) == value


@pytest.mark.parametrize("raw", ["5.5", "0x10", "five", "", "1__0"])
def test_int_rejects(raw):
    with pytest.raises(p.ParamError) as err:
        p.parse_int(raw)
    assert err.value.kind == "int_parsing"


@pytest.mark.parametrize("raw", ["true", "TRUE", "1", "yes", "On", "t", "Y"])
def test_bool_true_forms(raw):
    assert p.parse_bool(raw) is True


@pytest.mark.parametrize("raw", ["false", "0", "NO", "off", "f", "n"])
def test_bool_false_forms(raw):
    assert p.parse_bool(raw) is False


def test_bool_rejects_other_words():
    with pytest.raises(p.ParamError) as err:
        p.parse_bool("maybe")
    assert err.value.kind == "bool_parsing"


def test_enum_is_exact_and_lists_the_choices():
    assert p.parse_enum("GAS", PhaseType) == "GAS"
    with pytest.raises(p.ParamError) as err:
        p.parse_enum("gas", PhaseType)
    assert err.value.kind == "enum"
    assert err.value.ctx == {"expected": "'PLASMA', 'GAS', 'LIQUID' or 'SOLID'"}


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("2026-02-03T04:05:06", datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ("2026-02-03 04:05:06.123456", datetime(2026, 2, 3, 4, 5, 6, 123456, tzinfo=UTC)),
        ("2026-02-03T04:05", datetime(2026, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-02-03", datetime(2026, 2, 3, tzinfo=UTC)),
        ("2026-02-03T04:05:06Z", datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ("2026-02-03T06:05:06+02:00", datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ("2026-02-03T06:05:06.5+0200", datetime(2026, 2, 3, 4, 5, 6, 500000, tzinfo=UTC)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ],
)
def test_datetime_forms(raw, value):
    assert p.parse_datetime(raw) == value


@pytest.mark.parametrize("raw", ["yesterday", "2026-13-01", "2026-02-30T00:00", "2026-02-03T25:00", "2026/02/03"])
def test_datetime_rejects(raw):
    with pytest.raises(p.ParamError):
        p.parse_datetime(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("P1D", timedelta(days=1)),
        ("-P1D", timedelta(days=-1)),
        ("PT1H", timedelta(hours=1)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("01:00:00", timedelta(hours=1)),
        ("1 day, 0:00:00", timedelta(days=1)),
        ("2 days, 1:02:03", timedelta(days=2, hours=1, minutes=2, seconds=3)),
    ],
)
def test_timedelta_forms(raw, value):
    assert p.parse_timedelta(raw) == value


@pytest.mark.parametrize("raw", ["3600", "P", "PT", "one day", "1d"])
def test_timedelta_rejects_bare_numbers_and_junk(raw):
    with pytest.raises(p.ParamError) as err:
        p.parse_timedelta(raw)
    assert err.value.kind == "time_delta_parsing"

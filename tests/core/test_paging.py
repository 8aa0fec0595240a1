"""Paging: the page a ``limit`` and ``offset`` select, and their refusals, each naming the
operation's parameter that carried it."""

from __future__ import annotations

import pytest

from core.errors import FieldErrors
from core.paging import MAX_OFFSET, page

ROWS = list(range(10))


def test_a_page_is_capped_by_the_configured_limit(settings):
    settings.DLM_QUERY_LIMIT = 4

    assert page(ROWS) == [0, 1, 2, 3]
    assert page(ROWS, limit=2, offset=3) == [3, 4]
    assert page(ROWS, offset=8) == [8, 9]


@pytest.mark.parametrize(
    ("limit", "offset", "refused"),
    [
        (0, 0, [("limit", "less_than_equal", 0, "limit must be 1 to 4")]),
        (5, 0, [("limit", "less_than_equal", 5, "limit must be 1 to 4")]),
        (None, -1, [("offset", "greater_than_equal", -1, f"offset must be 0 to {MAX_OFFSET}")]),
        (
            0,
            MAX_OFFSET + 1,
            [
                ("limit", "less_than_equal", 0, "limit must be 1 to 4"),
                ("offset", "less_than_equal", MAX_OFFSET + 1, f"offset must be 0 to {MAX_OFFSET}"),
            ],
        ),
    ],
)
def test_limit_and_offset_out_of_range_are_refused_together(settings, limit, offset, refused):
    settings.DLM_QUERY_LIMIT = 4

    with pytest.raises(FieldErrors) as caught:
        page(ROWS, limit=limit, offset=offset)

    assert [(e.field, e.kind, e.value, e.message) for e in caught.value.errors] == refused
    assert all(e.at == () for e in caught.value.errors)


def test_the_offset_is_refused_under_the_name_of_the_parameter_that_carried_it():
    with pytest.raises(FieldErrors) as caught:
        page(ROWS, offset=-3, offset_name="skip")

    (error,) = caught.value.errors
    assert (error.field, error.message) == ("skip", f"skip must be 0 to {MAX_OFFSET}")

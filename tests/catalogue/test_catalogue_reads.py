"""The catalogue's reads and its column checks refuse in the domain's words: each refusal names the
input it is about (a JSON parameter, a body of columns, one value) and its position inside it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection

from catalogue import selectors
from catalogue.columns import clean_columns
from catalogue.models import DataItem
from core.errors import FieldError, FieldErrors
from tests.factories import make_item, make_storage


def _refused(exc: FieldError | FieldErrors) -> list[tuple]:
    errors = exc.errors if isinstance(exc, FieldErrors) else [exc]
    return [(e.field, e.kind, e.at, e.value) for e in errors]


def test_columns_of_one_json_value_are_refused_at_their_keys_in_it():
    data = {"colour": "blue", "uid": "not-a-uuid", "item_size": True, "item_name": "ok"}

    with pytest.raises(FieldErrors) as caught:
        clean_columns(DataItem, data, read_only=frozenset({"uid"}), field="post_data")

    assert _refused(caught.value) == [
        ("post_data", "extra_forbidden", ("colour",), "blue"),
        ("post_data", "read_only", ("uid",), "not-a-uuid"),
        ("post_data", "int_type", ("item_size",), True),
    ]


def test_columns_given_one_by_one_are_each_refused_by_name():
    with pytest.raises(FieldErrors) as caught:
        clean_columns(DataItem, {"item_name": "x" * 1025, "item_state": "ready"})

    refused = caught.value.errors
    assert [(e.field, e.kind, e.at) for e in refused] == [
        ("item_name", "string_too_long", ()),
        ("item_state", "enum", ()),
    ]
    assert "'READY'" in refused[1].ctx["expected"]  # the context of the refusal travels with it


def test_clean_columns_answers_the_fields_by_attribute_name():
    cleaned = clean_columns(DataItem, {"item_name": "a", "storage_id": None}, field="json_data")

    assert cleaned == {"item_name": "a", "storage_id": None}


@pytest.mark.parametrize(
    ("raw", "refused"),
    [
        ("{", [("acl", "json_invalid", (), "{")]),
        ("[1]", [("acl", "dict_type", (), "[1]")]),
        ('{"read": ["a\\u0000"]}', [("acl", "string_type", ("read", 0), None)]),
        ('{"a": ' + "[" * 150 + "]" * 150 + "}", [("acl", "json_invalid", ("a",), None)]),
    ],
    ids=["not-json", "not-an-object", "nul-nested", "too-deep"],
)
def test_a_json_parameter_is_refused_under_its_name_at_the_position_of_the_problem(raw, refused):
    with pytest.raises(FieldError) as caught:
        selectors.json_object("acl", raw)

    assert _refused(caught.value) == refused


def test_the_params_filter_is_refused_at_the_column_it_names():
    with pytest.raises(FieldErrors) as caught:
        selectors.data_item_params('{"colour": "blue", "item_size": "big"}')

    assert _refused(caught.value) == [
        ("params", "extra_forbidden", ("colour",), "blue"),
        ("params", "int_type", ("item_size",), "big"),
    ]


def test_an_expiry_offset_past_the_calendar_is_refused_by_name():
    with pytest.raises(FieldError) as caught:
        selectors.data_item_expired(offset=timedelta(days=999_999_999), now=datetime(2030, 1, 1))

    assert _refused(caught.value) == [("offset", "value_error", (), str(timedelta(days=999_999_999)))]


@pytest.mark.parametrize(
    ("prefix", "after"),
    [("ab", "ac"), ("a/", "a0"), ("a\U0010ffff", "b"), ("\U0010ffff", None), ("x\ud7ff", "x\ue000"), ("é", "ê")],
)
def test_the_text_after_a_prefix_bounds_every_name_that_starts_with_it(prefix, after):
    assert selectors._text_after(prefix) == after
    if after is not None:
        assert prefix < prefix + "\U0010ffff" < after and (prefix + "zzz").encode() < after.encode()


@pytest.mark.django_db
def test_a_name_range_holds_the_names_that_start_with_the_prefix_case_counting():
    if connection.vendor != "sqlite":
        pytest.skip("a range of the name index is for SQLite: PostgreSQL's collation need not order by code point")
    storage = make_storage()
    for name in ("ab", "ab/1", "ab\U0010ffff", "Ab/2", "aB", "ac", "a", "abc", "aa\U0010ffff"):
        make_item(storage, item_name=name)

    found = DataItem.objects.filter(selectors.item_name_range("ab")).order_by("item_name")

    assert sorted(found.values_list("item_name", flat=True)) == sorted(["ab", "ab/1", "ab\U0010ffff", "abc"])
    everything = DataItem.objects.filter(selectors.item_name_range("\U0010ffff"))
    assert list(everything) == []

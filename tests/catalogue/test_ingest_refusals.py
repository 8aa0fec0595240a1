"""Registration refuses in the domain's words: each refusal names the input it is about (a
parameter, or an element of the list of items, at its index and key), and nothing is written."""

from __future__ import annotations

import uuid

import pytest

from catalogue.models import DataItem
from catalogue.services import data_item_register, data_items_register
from core.errors import FieldError, FieldErrors, InvalidQueryParameters, UnmetPreconditionForOperation, ValueAlreadyInDB
from tests.factories import make_item, make_storage

pytestmark = pytest.mark.django_db


def _refused(exc: FieldError | FieldErrors) -> list[tuple]:
    errors = exc.errors if isinstance(exc, FieldErrors) else [exc]
    return [(e.field, e.kind, e.at) for e in errors]


def test_a_single_registration_refuses_each_value_by_its_name():
    storage = make_storage(storage_name="disk")

    with pytest.raises(FieldErrors) as caught:
        data_item_register(
            owner="op", item_name="", uri="../x", storage_name="disk", item_size=-1, do_storage_access_check=False
        )

    assert _refused(caught.value) == [
        ("item_name", "string_too_short", ()),
        ("uri", "value_error", ()),
        ("item_size", "int_range", ()),
    ]
    assert not DataItem.objects.filter(storage=storage).exists()


@pytest.mark.parametrize(
    ("names", "error", "field"),
    [
        ({}, InvalidQueryParameters, "storage_name"),
        ({"storage_name": "nowhere"}, UnmetPreconditionForOperation, "storage_name"),
        ({"storage_id": uuid.uuid4()}, UnmetPreconditionForOperation, "storage_id"),
    ],
)
def test_a_storage_that_cannot_be_found_is_refused_naming_the_parameter_that_named_it(names, error, field):
    with pytest.raises(error) as caught:
        data_item_register(owner="op", item_name="a", uri="a", do_storage_access_check=False, **names)

    assert caught.value.field == field


def test_a_name_already_on_the_storage_is_refused_naming_item_name():
    storage = make_storage(storage_name="disk")
    make_item(storage, item_name="a")

    with pytest.raises(ValueAlreadyInDB) as caught:
        data_item_register(owner="op", item_name="a", uri="a", storage_name="disk", do_storage_access_check=False)

    assert caught.value.field == "item_name"
    assert DataItem.objects.filter(storage=storage).count() == 1


def test_a_bulk_registration_refuses_each_entry_at_its_index_and_key_in_the_items():
    storage = make_storage(storage_name="disk")
    make_item(storage, item_name="taken")
    items = [
        {"item_name": "a"},
        5,
        {"item_name": "b", "uri": "b", "item_size": "big", "colour": "blue"},
        {"item_name": "c", "uri": "c", "item_type": "folder"},
        {"item_name": "taken", "uri": "t"},
    ]

    with pytest.raises(FieldErrors) as caught:
        data_items_register(owner="op", items=items, storage_name="disk", do_storage_access_check=False)
    assert _refused(caught.value) == [
        ("items", "missing", (0, "uri")),
        ("items", "dict_type", (1,)),
        ("items", "extra_forbidden", (2, "colour")),
        ("items", "int_type", (2, "item_size")),
        ("items", "enum", (3, "item_type")),
    ]
    assert caught.value.errors[4].ctx is not None  # the choices, as the API lists them

    with pytest.raises(FieldErrors) as caught:
        data_items_register(owner="op", items=items[4:], storage_name="disk", do_storage_access_check=False)
    assert _refused(caught.value) == [("items", "value_already_in_db", (0, "item_name"))]
    assert DataItem.objects.filter(storage=storage).count() == 1


def test_an_empty_list_of_items_is_refused_as_a_whole():
    make_storage(storage_name="disk")

    with pytest.raises(FieldError) as caught:
        data_items_register(owner="op", items=[], storage_name="disk", do_storage_access_check=False)

    assert _refused(caught.value) == [("items", "too_short", ())]

"""A refused item action shows each refusal of the service with the field it names, and marks that
field of the form invalid; a refusal about no field marks none."""

from __future__ import annotations

import html
import re

import pytest

from catalogue import services
from catalogue.models import DataItem
from core.errors import FieldError, FieldErrors, UnmetPreconditionForOperation
from tests.factories import make_item, make_storage
from ui.errors import messages_of, refusals, refused_fields


def _marked(response) -> set[str]:
    """The form fields marked invalid on the page."""
    tags = re.findall(r"<(?:input|select)\b[^>]*>", response.content.decode())
    return {re.search(r'name="([^"]+)"', tag).group(1) for tag in tags if 'aria-invalid="true"' in tag}


@pytest.fixture
def operator(make_ui_client):
    return make_ui_client("operator")


@pytest.fixture
def disk(db, tmp_path):
    storage = make_storage(storage_name="disk", root_directory="")
    services.storage_config_create(
        storage_id=storage.storage_id,
        config={"name": "disk", "type": "local", "root_path": str(tmp_path)},
        check_remote=False,
    )
    return storage


@pytest.mark.parametrize(
    ("sent", "shown", "marked"),
    [
        (
            {"item_name": "x", "uri": "x", "storage_name": "nowhere"},
            ["storage_name: No storages found for storage_name='nowhere', storage_id=''"],
            {"storage_name"},
        ),
        (
            {"item_name": "", "uri": "../x", "storage_name": "disk"},
            ["item_name: item_name cannot be empty", "uri: uri must not contain '..' segments"],
            {"item_name", "uri"},
        ),
        (
            {"item_name": "x", "uri": "x", "storage_name": "disk", "item_type": "folder"},
            ["item_type: Input should be"],
            {"item_type"},
        ),
        (
            {"item_name": "gone", "uri": "gone.fits", "storage_name": "disk"},
            ["uri: No file at "],
            {"uri"},
        ),
    ],
    ids=["unknown-storage", "two-values", "unreadable-value", "not-on-the-storage"],
)
def test_the_register_page_shows_each_refusal_beside_the_field_it_names(operator, disk, sent, shown, marked):
    response = operator.post("/items/register", sent)

    assert response.status_code == 422
    text = html.unescape(response.content.decode())
    for message in shown:
        assert message in text
    assert _marked(response) == marked
    assert not DataItem.objects.exists()


def test_an_item_action_marks_the_refused_field_of_its_own_form_only(operator, disk):
    item = make_item(disk, item_name="a", uri="a", item_state="READY")

    response = operator.post(f"/items/{item.uid}/register", {"item_name": "a", "uri": "a", "storage_name": "disk"})

    assert response.status_code == 422
    assert "item_name: Item is already registered on storage! a" in html.unescape(response.content.decode())
    assert _marked(response) == {"item_name"}
    assert DataItem.objects.count() == 1


def test_a_page_without_a_refusal_marks_no_field(operator, disk):
    item = make_item(disk, item_name="a", uri="a", item_state="READY")

    assert _marked(operator.get("/items/register")) == set()
    assert _marked(operator.get(f"/items/{item.uid}")) == set()


def test_refusals_name_their_fields_or_none():
    exc = FieldErrors([FieldError("uri", "value_error", "bad uri"), FieldError("items", "missing", "m", at=(0, "uri"))])
    whole = UnmetPreconditionForOperation("Storage disk is not accessible")

    assert refusals(exc) == [("uri", "bad uri"), ("items", "m")]
    assert messages_of(exc) == ["uri: bad uri", "items: m"]
    assert refused_fields(exc) == {"uri", "items"}
    assert (messages_of(whole), refused_fields(whole)) == (["Storage disk is not accessible"], set())

"""The error handler: refused fields placed where the operation takes them, domain errors, and
the last lines of defence (database refusals and bugs)."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import DataError, IntegrityError

from catalogue.choices import PhaseType
from core import params as p
from core.contract import Body, Param
from core.errors import FieldError, FieldErrors, UnmetPreconditionForOperation, exception_handler


def test_integrity_error_is_a_409_in_the_exec_shape():
    response = exception_handler(IntegrityError('duplicate key value violates unique constraint "x"\nDETAIL: ...'), {})
    assert response.status_code == 409
    assert response.data == {
        "exec": "DatabaseOperationError",
        "message": 'Database conflict: duplicate key value violates unique constraint "x"',
    }


def test_data_error_is_a_422_in_the_exec_shape():
    response = exception_handler(DataError("value too long for type character varying(255)"), {})
    assert response.status_code == 422
    assert response.data["exec"] == "InvalidQueryParameters"
    assert "value too long" in response.data["message"]


def test_a_bug_is_a_plain_500_without_details_and_is_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="dlm.errors"):
        response = exception_handler(KeyError("secret-ish internals"), {})
    assert response.status_code == 500
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == b"Internal Server Error"
    assert "secret-ish internals" in caplog.text


# --- refused fields: where the contract places them -------------------------------------------------

# An operation with two query parameters and a body of columns (as ``update_data_item``): a body
# key may share a query parameter's name.
WITH_BODY = SimpleNamespace(params=(Param("uid"), Param("item_name")), body=Body("post_data"))
QUERY_ONLY = SimpleNamespace(params=(Param("uid"), Param("params")), body=None)


def _answer(exc: Exception, operation: Any) -> tuple[int, Any]:
    response = exception_handler(exc, {"view": SimpleNamespace(operation=operation)})
    return response.status_code, response.data


@pytest.mark.parametrize(
    ("error", "operation", "loc"),
    [
        (FieldError("uid", "uuid_parsing", "m"), WITH_BODY, ["query", "uid"]),
        (FieldError("params", "extra_forbidden", "m", at=("colour",)), QUERY_ONLY, ["query", "params", "colour"]),
        (
            FieldError("params", "string_type", "m", at=("metadata", "k")),
            QUERY_ONLY,
            ["query", "params", "metadata", "k"],
        ),
        (FieldError("post_data", "dict_type", "m"), WITH_BODY, ["body"]),
        (FieldError("post_data", "read_only", "m", at=("uid",)), WITH_BODY, ["body", "uid"]),
        (FieldError("post_data", "missing", "m", at=(2, "uri")), WITH_BODY, ["body", 2, "uri"]),
        (FieldError("storage_date", "value_error", "m"), WITH_BODY, ["body", "storage_date"]),
        (FieldError("username", "missing", "m"), None, ["query", "username"]),
    ],
    ids=[
        "query-parameter",
        "json-parameter-key",
        "json-parameter-nested",
        "whole-body",
        "body-key-named-like-a-parameter",
        "bulk-entry",
        "other-field-of-a-body",
        "no-operation",
    ],
)
def test_a_refused_field_is_placed_where_the_operation_takes_it(error, operation, loc):
    status, data = _answer(error, operation)

    assert status == 422
    assert data == {"detail": [{"type": error.kind, "loc": loc, "msg": "m", "input": None}]}


def test_refused_fields_are_answered_together_in_order_with_their_values_and_context():
    exc = FieldErrors(
        [
            FieldError("uid", "uuid_parsing", "Input should be a valid UUID", "x"),
            FieldError("post_data", "enum", "Input should be 'a' or 'b'", "c", at=("state",), ctx={"expected": "'a'"}),
        ]
    )

    status, data = _answer(exc, WITH_BODY)

    assert status == 422
    assert data == {
        "detail": [
            {"type": "uuid_parsing", "loc": ["query", "uid"], "msg": "Input should be a valid UUID", "input": "x"},
            {
                "type": "enum",
                "loc": ["body", "state"],
                "msg": "Input should be 'a' or 'b'",
                "input": "c",
                "ctx": {"expected": "'a'"},
            },
        ]
    }


def test_a_domain_error_naming_its_field_keeps_the_exec_shape():
    status, data = _answer(UnmetPreconditionForOperation("No storages found", field="storage_name"), WITH_BODY)

    assert (status, data) == (422, {"exec": "UnmetPreconditionForOperation", "message": "No storages found"})


def test_a_value_a_parser_cannot_read_is_refused_with_the_parsers_words():
    with pytest.raises(p.ParamError) as caught:
        p.parse_enum("x", PhaseType)

    error = FieldError.unparsed("phase", caught.value, "x", at=(1,))

    assert (error.field, error.kind, error.value, error.at) == ("phase", "enum", "x", (1,))
    assert (error.message, error.ctx) == (caught.value.msg, {"expected": p.enum_expected(PhaseType)})

"""The error handler's last lines of defence: database refusals and bugs."""

from __future__ import annotations

import logging

from django.db import DataError, IntegrityError

from core.errors import exception_handler


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

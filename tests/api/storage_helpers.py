"""What several tests of the ``/storage`` operations build their calls with and check their answers by."""

from __future__ import annotations

from datetime import datetime


def missing(*loc):
    """The 422 ``detail`` entry of a required input that was not given, at ``loc``."""
    return {"type": "missing", "loc": list(loc), "msg": "Field required", "input": None}


def error_types(response) -> dict[tuple, str]:
    """``{loc: type}`` of a 422 ``detail`` answer."""
    assert response.status_code == 422, response.content
    return {tuple(entry["loc"]): entry["type"] for entry in response.json()["detail"]}


def assert_exec(response, status: int, exec_name: str, message: str | None = None) -> str:
    """Checks an ``{"exec", "message"}`` answer (and its message when given); the message."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"exec", "message"}
    assert body["exec"] == exec_name
    if message is not None:
        assert body["message"] == message
    return body["message"]


def assert_naive_iso(text: str) -> None:
    """Checks that ``text`` is an ISO 8601 timestamp without a UTC offset, as upstream writes them."""
    assert isinstance(text, str)
    assert datetime.fromisoformat(text).tzinfo is None, text


def storage_params(**overrides):
    """The query parameters of a valid ``init_storage`` call (without its location), with ``overrides``."""
    values = {
        "storage_name": "store-a",
        "storage_type": "filesystem",
        "root_directory": "/data",
        "storage_interface": "posix",
    }
    return {**values, **overrides}

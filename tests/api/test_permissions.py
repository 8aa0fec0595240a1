"""Every endpoint in the OpenAPI document declares the role it needs, and enforces it."""

from __future__ import annotations

import pytest
from django.test import Client

import dlm.urls  # noqa: F401  (declares every operation)
from dlm.contract import REGISTRY
from dlm.roles import Role

PUBLIC = {"heartbeat", "scope"}  # /scope judges the token it is given, not the caller
RANKS = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]


def _schema_operations() -> list[tuple[str, str, str]]:
    document = Client().get("/openapi.json").json()
    return [
        (method.upper(), path, op["operationId"])
        for path, item in document["paths"].items()
        for method, op in item.items()
        if "operationId" in op
    ]


@pytest.fixture(scope="module")
def operations(django_db_blocker):
    with django_db_blocker.unblock():
        return _schema_operations()


def test_every_schema_operation_declares_a_role_or_is_public(operations):
    declared = {op.operation_id: op for op in REGISTRY}
    for method, path, operation_id in operations:
        op = declared.get(operation_id)
        assert op is not None, f"{method} {path} is not a declared operation"
        assert op.role is not None or operation_id in PUBLIC, f"{operation_id} declares no role"


@pytest.mark.django_db
@pytest.mark.parametrize("op", [op for op in REGISTRY if op.role is not None], ids=lambda op: op.operation_id)
def test_role_is_enforced(op, make_api, anon_api):
    response = anon_api.call(op.method, op.path)
    assert response.status_code == 401, op.operation_id
    for role in RANKS:
        api = make_api(role.value)
        response = api.call(op.method, op.path)
        if RANKS.index(role) < RANKS.index(op.role):
            assert response.status_code == 403, f"{op.operation_id} as {role}"
            assert op.role.value in response.json()["detail"]
        else:
            assert response.status_code not in (401, 403), f"{op.operation_id} as {role}: {response.content!r}"

"""Audit records are append-only: neither the ORM nor raw SQL changes or deletes one."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AppendOnlyError, AuditRecord
from audit.services import audit_record
from tests.audit.conftest import records

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(actor) -> AuditRecord:
    audit_record(action="update", object_type="storage", object_id="s-1", changes={"storage_phase": ["GAS", "SOLID"]})
    return AuditRecord.objects.get()


def test_the_model_refuses_to_change_or_delete_a_record(record):
    record.username = "someone-else"
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()
    assert records()[0].username == "ops"


def test_querysets_refuse_to_update_or_delete(record):
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.filter(pk=record.pk).update(username="someone-else")
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.bulk_update([record], ["username"])
    assert AuditRecord.objects.get().username == "ops"


def test_a_new_record_can_still_be_saved(actor):
    AuditRecord(auth="command", via="command", action="create", object_type="user", object_id="7").save()
    assert AuditRecord.objects.count() == 1


@pytest.mark.parametrize(
    "sql",
    ["UPDATE audit_record SET username = 'someone-else'", "DELETE FROM audit_record"],
    ids=["update", "delete"],
)
def test_the_database_refuses_raw_sql_updates_and_deletes(record, sql):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    with connection.cursor() as cursor:
        cursor.execute("SELECT username, object_id FROM audit_record")
        assert cursor.fetchall() == [("ops", "s-1")]


def test_flush_empties_the_trail_and_keeps_it_append_only(record):
    call_command("flush", interactive=False, verbosity=0)

    assert AuditRecord.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_record (at, username, auth, via, operation, action, object_type, object_id, changes,"
            " request_id) VALUES (CURRENT_TIMESTAMP, 'x', 'system', 'command', '', 'create', 'user', '1', '{}', '')"
        )
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_record")
    assert AuditRecord.objects.count() == 1

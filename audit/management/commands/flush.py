"""``manage.py flush`` (Django's), able to empty the append-only audit trail with everything else.

Flushing removes every row of every table: on PostgreSQL with TRUNCATE, which the audit trail's
trigger (on UPDATE and DELETE of a row) lets through, as it lets DROP DATABASE through; on SQLite
with DELETE, which the trigger refuses. On SQLite the trigger is set aside for the flush and put
back afterwards. (The test runner flushes the database after every test that commits.)
"""

from __future__ import annotations

import importlib

from django.core.management.commands.flush import Command as FlushCommand
from django.db import connections

_initial = importlib.import_module("audit.migrations.0001_initial")


class Command(FlushCommand):
    def handle(self, **options) -> None:
        connection = connections[options["database"]]
        if connection.vendor != "sqlite" or "audit_record" not in connection.introspection.table_names():
            return super().handle(**options)
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS audit_record_no_delete")
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute(_initial.SQLITE_TRIGGER[1])

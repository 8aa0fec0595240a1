"""Reads of the audit trail."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from audit.models import AuditRecord
from audit.services import COLUMNS

# (JSON key, column) of a record as the API shows it.
AUDIT_COLUMNS = [(name, name) for name in ("id", *COLUMNS)]


def audit_query(
    *,
    object_type: str = "",
    object_id: str = "",
    username: str = "",
    operation: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditRecord]:
    """Audit records matching every criterion given (``since``/``until`` inclusive), newest first:
    by time, then by id (a stable order for paging)."""
    records = AuditRecord.objects.all()
    if object_type:
        records = records.filter(object_type=object_type)
    if object_id:
        records = records.filter(object_id=object_id)
    if username:
        records = records.filter(username=username)
    if operation:
        records = records.filter(operation=operation)
    if since is not None:
        records = records.filter(at__gte=since)
    if until is not None:
        records = records.filter(at__lte=until)
    return records.order_by("-at", "-id")

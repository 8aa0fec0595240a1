"""The audit trail in the admin: to read, never to write."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from audit.models import AuditRecord
from audit.services import COLUMNS


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    list_display = ("at", "username", "via", "operation", "action", "object_type", "object_id")
    list_filter = ("via", "action", "object_type")
    search_fields = ("object_id", "username", "operation")
    ordering = ("-at", "-id")
    show_full_result_count = False  # the trail only grows: spare a count of all of it
    # Every column of a record, in its order, its changes shown as indented JSON.
    fields = tuple("changes_shown" if name == "changes" else name for name in COLUMNS)
    readonly_fields = fields

    @admin.display(description="changes")
    def changes_shown(self, record: AuditRecord) -> str:
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre>',
            json.dumps(record.changes, indent=2, sort_keys=True, ensure_ascii=False),
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

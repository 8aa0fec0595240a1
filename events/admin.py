"""The outbox in the admin console: read-only events, filtered by state and type; dead events (the
relay gave up on them) can be sent again."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import truncatechars

from core.models import OutboxEvent, OutboxState
from events.relay import dead_events_retry


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("id", "event_type", "state", "attempts", "created_at", "next_attempt_at", "sent_at", "short_error")
    list_filter = ("state", "event_type")
    search_fields = ("=id",)
    show_full_result_count = False
    actions = ["send_again"]
    readonly_fields = [field.name for field in OutboxEvent._meta.fields]

    @admin.display(description="last error")
    def short_error(self, event: OutboxEvent) -> str:
        return truncatechars(event.last_error, 80)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # events are written by the services that make the changes

    def has_change_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False

    @admin.action(description="Send the selected dead events again")
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        ids = list(queryset.filter(state=OutboxState.DEAD).values_list("id", flat=True))
        count = dead_events_retry(ids=ids)
        messages.success(
            request, f"{count} dead event(s) pending again; {len(queryset) - count} not dead, left as they are."
        )

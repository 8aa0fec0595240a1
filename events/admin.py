"""The outbox in the admin console: read-only events, filtered by state and type; dead events (the
relay gave up on them) can be sent again."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import truncatechars

from core.errors import FieldError, FieldErrors, field_errors
from core.models import OutboxEvent, OutboxState
from events.models import Delivery, DeliveryState, Subscription
from events.relay import dead_events_retry
from events.webhooks import _fields, deliveries_retry


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


# --- webhooks (events.webhooks) -----------------------------------------------------------------


class SubscriptionForm(forms.ModelForm):
    """The secret is write-only: never shown; left empty on a change, the stored one is kept."""

    secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False), help_text="Leave empty to keep the secret."
    )

    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = Subscription
        fields = ("name", "url", "event_types", "enabled")

    def clean_secret(self) -> str:
        secret = self.cleaned_data.get("secret") or ""
        if not secret and self.instance.pk is None:
            raise forms.ValidationError("A new webhook needs a secret.")
        return secret

    def clean(self) -> dict:
        """The API's checks of the URL and the event types (``events.webhooks``), on their fields."""
        cleaned = super().clean()
        data = {key: cleaned[key] for key in ("url", "event_types") if cleaned.get(key) is not None}
        try:
            _fields(data, None, creating=False)
        except (FieldError, FieldErrors) as exc:
            for error in field_errors(exc):
                self.add_error(error.field if error.field in self.fields else None, error.message)
        return cleaned

    def save(self, commit: bool = True) -> Subscription:
        if self.cleaned_data.get("secret"):
            self.instance.secret = self.cleaned_data["secret"]
        return super().save(commit=commit)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    fields = ("name", "url", "event_types", "secret", "enabled")
    list_display = ("name", "url", "event_types", "enabled", "created_at", "created_by")
    list_filter = ("enabled",)
    search_fields = ("name", "url")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "subscription", "event_type", "event_id", "state", "attempts", "last_status", "short_error",
                    "next_attempt_at", "delivered_at")  # fmt: skip
    list_filter = ("state", "event_type", "subscription")
    list_select_related = ("subscription",)
    search_fields = ("=event_id",)
    show_full_result_count = False
    actions = ["deliver_again"]
    readonly_fields = [field.name for field in Delivery._meta.fields]

    @admin.display(description="last error")
    def short_error(self, delivery: Delivery) -> str:
        return truncatechars(delivery.last_error, 80)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False

    @admin.action(description="Deliver the selected failed deliveries again")
    def deliver_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        ids = list(queryset.filter(state=DeliveryState.FAILED).values_list("id", flat=True))
        count = deliveries_retry(ids=ids)
        messages.success(
            request, f"{count} failed deliver(ies) pending again; {len(queryset) - count} left as they are."
        )

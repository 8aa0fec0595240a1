"""The lifecycle in the admin console: placement rules, added, changed and deleted through the
lifecycle's services (as ``/lifecycle/create_rule`` and the others); its passes and what it holds
back, read-only; and the data items' "Delete payload" action, which asks for deletions as
``/storage/delete_data_item_payload`` does, without ``force``."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin_site import CappedCountPaginator
from accounts.roles import Role, has_role
from catalogue.admin.links import DATA_ITEM_ACTIONS
from catalogue.admin.writes import ServiceAdmin
from catalogue.admin_forms import ServiceModelForm
from catalogue.models import DataItem
from core.errors import DataLifecycleError
from lifecycle.models import Hold, HoldKind, LifecyclePass, PlacementRule
from lifecycle.services import copy_delete, rule_create, rule_delete, rule_update

# The rule's model fields and the keys of its JSON form (``lifecycle.services.RULE_KEYS``) that
# differ: storages are given by name.
_KEY_OF = {"source_storage": "source_storage_name", "storage": "storage_name"}
_FIELD_OF = {key: field for field, key in _KEY_OF.items()}
# Copies one "Delete payload" may ask for at once (each is checked and queued in its own transaction).
DELETE_PAYLOAD_MAX = 500


class PlacementRuleForm(ServiceModelForm):
    """A rule's fields; the service refuses by the keys of the rule's JSON form, shown here
    beside the field of the same meaning (``storage_name`` on ``storage``)."""

    class Meta:
        model = PlacementRule
        fields = [
            "name",
            "enabled",
            "description",
            "item_name_pattern",
            "source_storage",
            "item_type",
            "metadata_key",
            "metadata_value",
            "copies",
            "min_phase",
            "storage",
            "lifetime",
        ]

    def refusal_field(self, field: str | None, at: tuple[Any, ...]) -> str | None:
        return super().refusal_field(_FIELD_OF.get(field or "", field), at)


def rule_body(cleaned: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The rule's JSON form of the form fields ``names``: storages by name, the lifetime in
    seconds."""
    body: dict[str, Any] = {}
    for name in names:
        if name not in PlacementRuleForm.Meta.fields:
            continue
        value = cleaned.get(name)
        if name in _KEY_OF:
            body[_KEY_OF[name]] = value.storage_name if value is not None else None
        elif name == "lifetime":
            body[name] = value.total_seconds() if value is not None else None
        else:
            body[name] = value
    return body


@admin.register(PlacementRule)
class PlacementRuleAdmin(ServiceAdmin):
    """Placement rules: every write is the lifecycle's service (``rule_create``, ``rule_update``,
    ``rule_delete``), which judges the rule as the API does and has the lifecycle look again at
    the objects it concerns."""

    form = PlacementRuleForm
    list_display = ("name", "enabled", "item_name_pattern", "source_storage", "copies", "min_phase", "storage")
    list_display += ("lifetime", "updated_at")
    list_filter = ("enabled", "min_phase")
    list_select_related = ("source_storage", "storage")
    search_fields = ("name",)
    readonly_fields = ("rule_id", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("rule_id", "name", "enabled", "description")}),
        ("Which items", {"fields": ("item_name_pattern", "source_storage", "item_type", "metadata_key")}),
        (None, {"fields": ("metadata_value",)}),
        ("What it asks for", {"fields": ("copies", "min_phase", "storage", "lifetime")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def service_create(self, obj: PlacementRule, form: ServiceModelForm) -> PlacementRule:
        return rule_create(fields=rule_body(form.cleaned_data, list(form.cleaned_data)))

    def service_update(self, obj: PlacementRule, form: ServiceModelForm) -> PlacementRule:
        return rule_update(rule_id=obj.pk, fields=rule_body(form.cleaned_data, form.changed_data))

    def service_delete(self, obj: PlacementRule) -> None:
        rule_delete(rule_id=obj.pk)


@admin.register(LifecyclePass)
class LifecyclePassAdmin(admin.ModelAdmin):
    """The lifecycle's passes and dry runs, newest first: read-only (the engine writes them)."""

    list_display = ("pass_id", "state", "dry_run", "started_at", "duration", "counts_shown", "short_error")
    list_filter = ("state", "dry_run")
    search_fields = ("=pass_id",)
    show_full_result_count = False
    paginator = CappedCountPaginator  # one row per pass, every minute
    ordering = ("-pass_id",)
    fields = (
        "pass_id",
        "state",
        "dry_run",
        "worker",
        "started_at",
        "finished_at",
        "duration",
        "queries",
        "counts_shown",
        "error",
        "decisions_shown",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The list never shows the decisions (up to 500 a pass); a pass's page reads them on use.
        return super().get_queryset(request).defer("decisions")

    @admin.display(description="counts by step")
    def counts_shown(self, row: LifecyclePass) -> str:
        counts = row.counts if isinstance(row.counts, dict) else {}
        return (
            "; ".join(
                f"{step}: " + ", ".join(f"{what} {n}" for what, n in sorted(by.items()))
                for step, by in counts.items()
                if isinstance(by, dict) and by
            )
            or "-"
        )

    @admin.display(description="error")
    def short_error(self, row: LifecyclePass) -> str:
        return truncatechars(row.error, 80)

    @admin.display(description="decisions")
    def decisions_shown(self, row: LifecyclePass) -> str:
        if not row.decisions:
            return "-"
        return format_html("<pre>{}</pre>", json.dumps(row.decisions, indent=1, ensure_ascii=False))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LifecyclePass | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LifecyclePass | None = None) -> bool:
        return False  # the record of what the lifecycle did, and why


@admin.register(Hold)
class HoldAdmin(admin.ModelAdmin):
    """What the lifecycle holds back and why: read-only (a pass records and releases them)."""

    list_display = ("kind", "item", "reason", "since", "checked_at")
    list_filter = ("kind",)
    search_fields = ("item_name",)  # and the oid or uid: get_search_results
    search_help_text = "The beginning of an item name, or the oid of the object or the uid of the copy held (exact)."
    show_full_result_count = False
    paginator = CappedCountPaginator
    ordering = ("-since", "id")
    fields = ("kind", "item", "subject", "oid", "item_name", "reason", "since", "checked_at")
    readonly_fields = fields

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            value = uuid.UUID(term)
        except ValueError:
            return queryset.filter(item_name__startswith=term), False
        return queryset.filter(Q(oid=value) | Q(subject=value)), False

    @admin.display(description="item")
    def item(self, hold: Hold) -> str:
        """The copy kept, or the object held, in the data items' admin list."""
        url = reverse("admin:catalogue_dataitem_changelist")
        subject = hold.subject if hold.kind == HoldKind.EXPIRED_KEPT else hold.oid
        return format_html('<a href="{}?q={}">{}</a>', url, subject, hold.item_name or subject)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Hold | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Hold | None = None) -> bool:
        return False


@admin.action(
    description="Delete payload of the selected copies (refused when it would leave an object short; "
    "no force here: use the API's force=true)"
)
def delete_payload(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[DataItem]) -> None:
    """Ask for the deletion of each selected copy's payload (``copy_delete`` without ``force``):
    one message for those queued, and one per refusal, saying why."""
    if not has_role(request.user, Role.OPERATOR):
        model_admin.message_user(request, "Deleting a payload needs the operator role.", messages.ERROR)
        return
    uids = list(queryset.order_by("uid").values_list("uid", "item_name")[: DELETE_PAYLOAD_MAX + 1])
    if len(uids) > DELETE_PAYLOAD_MAX:
        model_admin.message_user(
            request, f"Select at most {DELETE_PAYLOAD_MAX} copies at a time: nothing was done.", messages.ERROR
        )
        return
    queued = []
    for uid, name in uids:
        try:
            deletion = copy_delete(uid=uid, user=request.user.get_username(), force=False)
        except DataLifecycleError as exc:
            model_admin.message_user(request, f"{name or uid}: refused: {exc.message}", messages.WARNING)
        else:
            queued.append(f"{name or uid} (deletion {deletion.deletion_id})")
    if queued:
        model_admin.message_user(request, f"Deletion queued for {len(queued)}: {', '.join(queued)}", messages.SUCCESS)


DATA_ITEM_ACTIONS.append(delete_payload)

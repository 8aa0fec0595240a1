"""Data items in the admin console: made for a catalogue of millions of rows, and changed only
through the catalogue's service, under the same guards as the API's setters."""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.db import connections
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from accounts.admin_site import CappedCountPaginator, admin_link, changelist_link, links
from catalogue.admin.links import DATA_ITEM_ACTIONS, DATA_ITEM_LINKS
from catalogue.admin.writes import ServiceAdmin, form_columns
from catalogue.admin_forms import ServiceModelForm
from catalogue.models import DataItem
from catalogue.selectors import item_name_prefix
from catalogue.services.data_items import data_item_set


class ItemState(admin.SimpleListFilter):
    """``item_state`` from its choices (no query for the choices)."""

    title = "state"
    parameter_name = "item_state"

    def lookups(self, request, model_admin):
        return DataItem._meta.get_field("item_state").choices

    def queryset(self, request, queryset):
        return queryset.filter(item_state=self.value()) if self.value() else queryset


@admin.register(DataItem)
class DataItemAdmin(ServiceAdmin):
    """Data items: one row per copy. Made for a catalogue of millions of rows: no full count
    (the count stops at ``CappedCountPaginator.cap``), filters whose choices cost no scan of the
    items, search by uid or oid (exact) or by item name prefix, and sorting only on indexed
    columns. Items are registered through the API and never deleted here: a copy ends by its
    state, as the API's setters do. A change is ``data_item_set``'s, so the guards on a copy's
    state (a copy job refuses a change of the copy it writes) apply here too."""

    list_display = ("item_name", "uid", "storage", "item_state", "uid_phase", "item_size", "uid_creation")
    list_select_related = ("storage",)
    list_filter = (ItemState, "uid_phase", "storage", "deleted")
    search_fields = ("item_name",)  # how it is searched: get_search_results
    search_help_text = "A uid or an oid (exact), or the beginning of an item name (case-sensitive)."
    sortable_by = ("item_name", "uid_creation")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    list_per_page = 100
    readonly_fields = (
        "uid",
        "oid",
        "storage_link",
        "uri",
        "item_type",
        "item_size",
        "item_checksum",
        "checksum_method",
        "hashes",
        "uid_creation",
        "oid_creation",
        "copies",
    )
    fieldsets = (
        (None, {"fields": ("uid", "oid", "item_name", "item_version", "storage_link", "uri", "copies")}),
        (
            "Bytes",
            {"fields": ("item_type", "item_size", "item_checksum", "checksum_method", "hashes", "item_value")},
        ),
        (
            "State",
            {
                "fields": (
                    "item_state",
                    "uid_phase",
                    "oid_phase",
                    "target_phase",
                    "expired",
                    "deleted",
                    "uid_creation",
                    "oid_creation",
                    "uid_expiration",
                    "oid_expiration",
                    "uid_deletion",
                    "oid_deletion",
                    "last_access",
                    "last_check",
                )
            },
        ),
        (
            "Description",
            {
                "fields": (
                    "item_tags",
                    "item_format",
                    "item_encoding",
                    "item_mime_type",
                    "item_level",
                    "item_owner",
                    "item_group",
                    "acl",
                    "activate_method",
                    "decompressed_size",
                    "compression_method",
                    "parents",
                    "children",
                    "metadata",
                )
            },
        ),
    )

    @property
    def actions(self) -> tuple:
        """The catalogue's own (none: items are not deleted here) and those the apps above it
        add (``DATA_ITEM_ACTIONS``), read when the page asks: they register after this admin."""
        return tuple(DATA_ITEM_ACTIONS)

    def service_update(self, obj: DataItem, form: ServiceModelForm) -> DataItem:
        return data_item_set(uid=obj.uid, fields=form_columns(form, obj, changed_only=True))

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            value = uuid.UUID(term)
        except ValueError:
            return queryset.filter(item_name_prefix(term, vendor=connections[queryset.db].vendor)), False
        return queryset.filter(Q(uid=value) | Q(oid=value)), False

    @admin.display(description="storage")
    def storage_link(self, item: DataItem) -> str:
        return admin_link(item.storage)

    @admin.display(description="related")
    def copies(self, item: DataItem) -> str:
        if item.pk is None:
            return "-"
        oid = item.oid or item.uid
        return links(
            changelist_link(DataItem, "every copy of this object", q=str(oid)),
            *(link(item) for link in DATA_ITEM_LINKS),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DataItem | None = None) -> bool:
        return False

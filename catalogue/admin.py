"""The catalogue in the admin console: locations, storages, their rclone remotes, and data items.

What identifies a row or locates bytes is read-only here (uids, oids, an item's storage and uri,
its size and hashes); a storage's remote is edited as fields and tried against the real remote
before it is stored (``catalogue.admin_forms``). Secret options are never shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db import connections
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect

from accounts.admin_site import CappedCountPaginator, admin_link, changelist_link, links
from catalogue.admin_forms import ROWS_MIN, parameter_rows, row_fields, storage_config_form
from catalogue.models import DataItem, Location, LocationFacility, Storage, StorageConfig
from catalogue.selectors import storage_in_use
from catalogue.services.storages import storage_check_access, storage_config_check
from core.crypto import SecretDecryptionError
from core.secrets import MASK, mask_secrets

# Links that apps above the catalogue add to the "related" cell of a storage and of a data item
# (the copy jobs, say), so that the catalogue never imports them: each returns safe HTML.
STORAGE_LINKS: list[Callable[[Storage], str]] = []
DATA_ITEM_LINKS: list[Callable[[DataItem], str]] = []


@admin.register(LocationFacility)
class LocationFacilityAdmin(admin.ModelAdmin):
    list_display = ("id", "location_count")
    search_fields = ("id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(location_count=Count("locations"))

    @admin.display(description="locations", ordering="location_count")
    def location_count(self, facility: LocationFacility) -> int:
        return facility.location_count

    def get_readonly_fields(self, request: HttpRequest, obj: LocationFacility | None = None) -> tuple[str, ...]:
        return ("id",) if obj else ()  # the key of the row: locations refer to it


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = (
        "location_name",
        "location_type",
        "location_country",
        "location_city",
        "location_facility",
        "storage_count",
        "location_date",
    )
    list_filter = ("location_type", "location_country", "location_facility")
    list_select_related = ("location_facility",)
    search_fields = ("location_name", "location_city")
    readonly_fields = ("location_id", "storages")
    fields = (
        "location_id",
        "location_name",
        "location_type",
        "location_country",
        "location_city",
        "location_facility",
        "location_check_url",
        "location_last_check",
        "location_date",
        "storages",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(storage_count=Count("storages"))

    @admin.display(description="storages", ordering="storage_count")
    def storage_count(self, location: Location) -> int:
        return location.storage_count

    @admin.display(description="storages")
    def storages(self, location: Location) -> str:
        if location.pk is None:
            return "-"
        return changelist_link(Storage, "storages at this location", location__location_id__exact=location.pk)


@admin.register(Storage)
class StorageAdmin(admin.ModelAdmin):
    list_display = (
        "storage_name",
        "location",
        "storage_type",
        "storage_interface",
        "storage_phase",
        "storage_checked",
        "storage_last_checked",
        "storage_available",
        "storage_retired",
        "config_count",
    )
    list_filter = (
        "storage_type",
        "storage_interface",
        "storage_phase",
        "storage_checked",
        "storage_available",
        "storage_retired",
        "location",
    )
    list_select_related = ("location",)
    search_fields = ("storage_name", "root_directory")
    readonly_fields = ("storage_id", "storage_checked", "storage_last_checked", "related")
    fieldsets = (
        (None, {"fields": ("storage_id", "storage_name", "location", "root_directory", "related")}),
        ("Kind", {"fields": ("storage_type", "storage_interface", "storage_phase", "storage_permissions")}),
        (
            "State",
            {
                "fields": (
                    "storage_checked",
                    "storage_last_checked",
                    "storage_check_url",
                    "storage_available",
                    "storage_retired",
                    "storage_retire_date",
                )
            },
        ),
        ("Use", {"fields": ("storage_capacity", "storage_use_pct", "storage_num_objects", "storage_date")}),
    )
    actions = ["check_access"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(config_count=Count("configs"))

    @admin.display(description="configs", ordering="config_count")
    def config_count(self, storage: Storage) -> int:
        return storage.config_count

    @admin.display(description="related")
    def related(self, storage: Storage) -> str:
        if storage.pk is None:
            return "-"
        return links(
            changelist_link(StorageConfig, "rclone configs", storage__storage_id__exact=storage.pk),
            changelist_link(DataItem, "data items", storage__storage_id__exact=storage.pk),
            *(link(storage) for link in STORAGE_LINKS),
        )

    @admin.action(description="Check access (rclone stats the storage's remote)")
    def check_access(self, request: HttpRequest, queryset: QuerySet[Storage]) -> None:
        for storage in queryset:
            result = storage_check_access(storage=storage)
            if result["reachable"]:
                self.message_user(request, f"{storage.storage_name}: reachable", messages.SUCCESS)
            else:
                self.message_user(request, f"{storage.storage_name}: not reachable: {result['error']}", messages.ERROR)

    def get_deleted_objects(self, objs, request: HttpRequest):
        # A storage holding items or jobs cannot be deleted (PROTECT). Say so by storage, rather
        # than letting Django list every protected row (a storage may hold a million items).
        storages = list(objs)
        busy = {storage.pk for storage in storages if storage_in_use(storage)}
        if busy:
            protected = [
                f"{storage.storage_name}: it holds data items or copy jobs"
                for storage in storages
                if storage.pk in busy
            ]
            return [], {}, set(), protected
        return super().get_deleted_objects(storages, request)


@admin.register(StorageConfig)
class StorageConfigAdmin(admin.ModelAdmin):
    """A storage's rclone remote definitions (the first is the storage's remote). Edited as fields,
    tried against the real remote before being stored; secret options are never shown."""

    list_display = ("remote_name", "remote_type", "storage_link", "config_type", "root_path", "config_date")
    list_filter = ("config_type", "storage")
    list_select_related = ("storage",)
    search_fields = ("storage__storage_name",)
    actions = ["check_remote"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Lists, deletes and links need no secret: a row whose secrets no key decrypts still shows.
        return super().get_queryset(request).defer("secrets")

    def get_form(self, request: HttpRequest, obj: StorageConfig | None = None, change: bool = False, **kwargs: Any):
        return storage_config_form(rows=parameter_rows(obj), adding=obj is None)

    def get_fieldsets(self, request: HttpRequest, obj: StorageConfig | None = None):
        rows = parameter_rows(obj)
        head = ("storage", "config_type") if obj is None else ("storage_link", "config_type", "config_date")
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"fields": head}),
            ("rclone remote", {"fields": ("name", "type", "root_path")}),
            (
                "Options",
                {
                    "fields": [row_fields(index) for index in range(max(rows, ROWS_MIN))],
                    "description": (
                        "rclone's options for this backend, one a row (an empty name: no option). Secret "
                        "options (secret_access_key, pass, token…) are stored encrypted and never shown: "
                        "leave one empty to keep it, type a new value to replace it, tick remove to drop it."
                    ),
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(("Stored", {"fields": ("stored_secrets", "other_keys")}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: StorageConfig | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("storage_link", "config_type", "config_date", "stored_secrets", "other_keys")

    @method_decorator(csrf_protect)
    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None) -> HttpResponse:
        # Django runs a POST in one transaction. The service tries the remote (up to
        # DLM_RCLONE_TIMEOUT) and then writes in its own short transaction: on SQLite a request-long
        # transaction would hold the database's write lock while rclone answers.
        return self._changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: StorageConfig, form, change: bool) -> None:
        """Nothing: the form's service call stored the config (see ``catalogue.admin_forms``)."""

    def construct_change_message(self, request: HttpRequest, form, formsets, add: bool = False):
        # Which fields changed, never their values (the history shows it).
        if add:
            return [{"added": {}}]
        changed = sorted(
            {"options" if name.startswith("param_") else str(form.fields[name].label) for name in form.changed_data}
        )
        return [{"changed": {"fields": changed}}] if changed else []

    @admin.display(description="remote", ordering="config__name")
    def remote_name(self, config: StorageConfig) -> str:
        return str(config.config.get("name", "")) if isinstance(config.config, dict) else ""

    @admin.display(description="rclone type")
    def remote_type(self, config: StorageConfig) -> str:
        return str(config.config.get("type", "")) if isinstance(config.config, dict) else ""

    @admin.display(description="root path")
    def root_path(self, config: StorageConfig) -> str:
        return str(config.config.get("root_path", "")) if isinstance(config.config, dict) else ""

    @admin.display(description="storage", ordering="storage__storage_name")
    def storage_link(self, config: StorageConfig) -> str:
        return admin_link(config.storage)

    @admin.display(description="secret options")
    def stored_secrets(self, config: StorageConfig) -> str:
        try:
            stored = config.secrets or []
        except SecretDecryptionError as exc:
            return f"Unreadable ({exc}): enter them again to replace them."
        return ", ".join(f"{'.'.join(path)} = {MASK}" for path, _ in stored) or "none"

    @admin.display(description="other keys")
    def other_keys(self, config: StorageConfig) -> str:
        others = {
            key: value for key, value in config.config.items() if key not in ("name", "type", "parameters", "root_path")
        }
        if not others:
            return "none"
        try:
            secrets = config.secrets or []
        except SecretDecryptionError:
            secrets = []
        return str(mask_secrets(others, [s for s in secrets if s[0][0] in others]))

    @admin.action(description="Check against the remote (rclone stats its root)")
    def check_remote(self, request: HttpRequest, queryset: QuerySet[StorageConfig]) -> None:
        for config in queryset.select_related("storage"):
            label = f"{config.storage.storage_name} / {self.remote_name(config) or config.pk}"
            result = storage_config_check(config=config)
            if result.reachable:
                self.message_user(request, f"{label}: reachable", messages.SUCCESS)
            else:
                self.message_user(request, f"{label}: not reachable: {result.error}", messages.ERROR)


class ItemState(admin.SimpleListFilter):
    """``item_state`` from its choices (no query for the choices)."""

    title = "state"
    parameter_name = "item_state"

    def lookups(self, request, model_admin):
        return DataItem._meta.get_field("item_state").choices

    def queryset(self, request, queryset):
        return queryset.filter(item_state=self.value()) if self.value() else queryset


@admin.register(DataItem)
class DataItemAdmin(admin.ModelAdmin):
    """Data items: one row per copy. Made for a catalogue of millions of rows: no full count
    (the count stops at ``CappedCountPaginator.cap``), filters whose choices cost no scan of the
    items, search by uid or oid (exact) or by item name prefix, and sorting only on indexed
    columns. Items are registered through the API and never deleted here: a copy ends by its
    state, as the API's setters do."""

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

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            value = uuid.UUID(term)
        except ValueError:
            rows = queryset.filter(item_name__startswith=term)
            if connections[queryset.db].vendor == "sqlite":
                # SQLite's LIKE cannot use the (item_name, storage) index; the same prefix as a
                # range in its binary order can (PostgreSQL's collation may not order it so).
                rows = rows.filter(item_name__gte=term, item_name__lt=term + "\U0010ffff")
            return rows, False
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

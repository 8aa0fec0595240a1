"""Facilities, locations and storages in the admin console, added, changed and deleted by the
catalogue's services (``catalogue.admin.writes``), the API's for locations and storages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from accounts.admin_site import changelist_link, links
from catalogue import capacity
from catalogue.admin.links import STORAGE_LINKS
from catalogue.admin.writes import ServiceAdmin, form_columns
from catalogue.admin_forms import ServiceModelForm
from catalogue.models import DataItem, Location, LocationFacility, Storage, StorageConfig
from catalogue.services.locations import (
    facility_create,
    facility_delete,
    location_create,
    location_delete,
    location_update,
)
from catalogue.services.storages import (
    storage_check_access,
    storage_create,
    storage_delete,
    storage_delete_check,
    storage_update,
)
from core.errors import UnmetPreconditionForOperation
from core.units import human_size


@admin.register(LocationFacility)
class LocationFacilityAdmin(ServiceAdmin):
    list_display = ("id", "location_count")
    search_fields = ("id",)

    def service_create(self, obj: LocationFacility, form: ServiceModelForm) -> LocationFacility:
        return facility_create(facility_id=form.cleaned_data.get("id") or "")

    def service_update(self, obj: LocationFacility, form: ServiceModelForm) -> LocationFacility:
        return obj  # its only column is its key, which is not changed once locations may name it

    def service_delete(self, obj: LocationFacility) -> None:
        facility_delete(facility_id=obj.pk)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(location_count=Count("locations"))

    @admin.display(description="locations", ordering="location_count")
    def location_count(self, facility: LocationFacility) -> int:
        return facility.location_count

    def get_readonly_fields(self, request: HttpRequest, obj: LocationFacility | None = None) -> tuple[str, ...]:
        return ("id",) if obj else ()  # the key of the row: locations refer to it


@admin.register(Location)
class LocationAdmin(ServiceAdmin):
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

    def service_create(self, obj: Location, form: ServiceModelForm) -> Location:
        columns = form_columns(form, obj)
        return location_create(
            location_name=columns.pop("location_name", ""),
            location_type=columns.pop("location_type", ""),
            location_country=columns.pop("location_country", None),
            location_city=columns.pop("location_city", None) or "",
            location_facility=columns.pop("location_facility_id", None) or "",
            fields=columns,
        )

    def service_update(self, obj: Location, form: ServiceModelForm) -> Location:
        return location_update(location_id=obj.pk, fields=form_columns(form, obj, changed_only=True))

    def service_delete(self, obj: Location) -> None:
        location_delete(location_id=obj.pk)

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
class StorageAdmin(ServiceAdmin):
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
        "use",
        "measured_space",
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
    readonly_fields = (
        "storage_id",
        "storage_checked",
        "storage_last_checked",
        "related",
        "use",
        "storage_use_pct",
        "measured_space",
        "storage_measured_at",
        "storage_measure_error",
    )
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
        (
            "Use",
            {
                "fields": (
                    "storage_capacity",
                    "use",
                    "storage_use_pct",
                    "measured_space",
                    "storage_measured_at",
                    "storage_measure_error",
                    "storage_num_objects",
                    "storage_date",
                )
            },
        ),
    )
    actions = ["check_access", "measure_space"]

    def service_create(self, obj: Storage, form: ServiceModelForm) -> Storage:
        columns = form_columns(form, obj)
        named: dict[str, Any] = {
            name: columns.pop(name, None)
            for name in ("storage_name", "storage_type", "storage_interface", "root_directory", "location_id")
        }
        for name in ("storage_capacity", "storage_phase"):
            if name in columns:
                named[name] = columns.pop(name)
        return storage_create(**named, fields=columns)

    def service_update(self, obj: Storage, form: ServiceModelForm) -> Storage:
        return storage_update(storage_id=obj.pk, fields=form_columns(form, obj, changed_only=True))

    def service_delete(self, obj: Storage) -> None:
        storage_delete(storage_id=obj.pk)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return capacity.storages_with_use(super().get_queryset(request).annotate(config_count=Count("configs")))

    @admin.display(description="use")
    def use(self, storage: Storage) -> str:
        """The use now (READY and in-flight copies against the capacity) and its level."""
        if storage.pk is None:
            return "-"
        used = capacity.storages_use([storage])[storage.storage_id].used_bytes
        pct = capacity.use_pct(used, storage.storage_capacity)
        if pct is None:
            return f"{human_size(used)} (capacity unknown)"
        level = capacity.use_level(pct)
        flag = {capacity.HIGH: ": HIGH, takes no new copies", capacity.WARN: ": warn"}.get(level, "")
        return f"{pct:.1f} % ({human_size(used)} of {human_size(storage.storage_capacity)}){flag}"

    @admin.display(description="measured free / total")
    def measured_space(self, storage: Storage) -> str:
        """What the backend said of its space when last asked, or why it could not."""
        if storage.storage_measured_at is None:
            return "never measured"
        if storage.storage_measure_error:
            return "not reported"
        free = human_size(storage.storage_free_bytes, unknown="?")
        total = human_size(storage.storage_total_bytes, unknown="?")
        return f"{free} free of {total}"

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

    @admin.action(description="Measure free space now")
    def measure_space(self, request: HttpRequest, queryset: QuerySet[Storage]) -> None:
        result = capacity.storages_measure(storages=queryset)
        for name in result["measured"]:
            self.message_user(request, f"{name}: free space measured", messages.SUCCESS)
        for name, reason in result["not_measured"].items():
            self.message_user(request, f"{name}: not measured: {reason}", messages.WARNING)

    def get_deleted_objects(self, objs, request: HttpRequest):
        # A storage in use cannot be deleted (``storage_delete`` refuses). Say so by storage, with
        # the service's reason, rather than letting Django list every protected row (a storage
        # may hold a million items).
        storages = list(objs)
        protected = []
        for storage in storages:
            try:
                storage_delete_check(storage=storage)
            except UnmetPreconditionForOperation as exc:
                protected.append(exc.message)
        if protected:
            return [], {}, set(), protected
        return super().get_deleted_objects(storages, request)

"""Copy jobs and deletions in the admin console: read-only rows, steered only by actions that call
the services (retry a failed or cancelled job, cancel a queued or running copy or a queued
deletion), as the API does."""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import truncatechars

from accounts.admin_site import CappedCountPaginator, admin_link, changelist_link, links
from catalogue.admin import DATA_ITEM_LINKS, STORAGE_LINKS
from catalogue.models import DataItem
from core.errors import DataLifecycleError
from core.units import human_size
from migrations_app.models import Deletion, Migration
from migrations_app.services import copy_job_cancel, copy_job_retry, deletion_job_cancel, deletion_job_retry


@admin.register(Migration)
class MigrationAdmin(admin.ModelAdmin):
    list_display = (
        "migration_id",
        "state",
        "source_storage",
        "destination_storage",
        "attempts",
        "progress",
        "date",
        "finished_at",
        "short_error",
    )
    list_filter = ("state", "source_storage", "destination_storage", "complete")
    list_select_related = ("source_storage", "destination_storage")
    search_fields = ("=migration_id",)  # and uids and oids: get_search_results
    search_help_text = "A migration id, or the oid or a uid of its object (exact)."
    show_full_result_count = False
    paginator = CappedCountPaginator  # one row per copy ever made: never counted whole
    ordering = ("-migration_id",)
    actions = ["retry", "cancel"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "migration_id",
                    "state",
                    "oid",
                    "source",
                    "destination",
                    "source_storage",
                    "destination_storage",
                    "user",
                    "group",
                )
            },
        ),
        (
            "Progress",
            {
                "fields": (
                    "attempts",
                    "last_error",
                    "bytes_done",
                    "bytes_total",
                    "rate",
                    "url",
                    "job_id",
                    "cancel_requested",
                    "next_attempt_at",
                    "heartbeat_at",
                )
            },
        ),
        (
            "Dates",
            {"fields": ("date", "started_at", "finished_at", "complete", "completion_date")},
        ),
        ("rclone", {"fields": ("command", "job_status", "job_stats")}),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        try:
            value = uuid.UUID(term)
        except ValueError:
            return super().get_search_results(request, queryset, term)
        return queryset.filter(Q(oid=value) | Q(source_uid=value) | Q(destination_uid=value)), False

    @admin.display(description="progress")
    def progress(self, job: Migration) -> str:
        if job.bytes_total:
            return f"{human_size(job.bytes_done)} of {human_size(job.bytes_total)}"
        return human_size(job.bytes_done)

    @admin.display(description="last error")
    def short_error(self, job: Migration) -> str:
        return truncatechars(job.last_error, 80)

    @admin.display(description="source copy")
    def source(self, job: Migration) -> str:
        return admin_link(DataItem.objects.filter(uid=job.source_uid).first(), str(job.source_uid))

    @admin.display(description="destination copy")
    def destination(self, job: Migration) -> str:
        return admin_link(DataItem.objects.filter(uid=job.destination_uid).first(), str(job.destination_uid))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # copies are asked for through the API (copy_data_item)

    def has_change_permission(self, request: HttpRequest, obj: Migration | None = None) -> bool:
        return False  # the job's row is the worker's: states change through the actions

    def has_delete_permission(self, request: HttpRequest, obj: Migration | None = None) -> bool:
        return False  # the row is the truth about the copy, and its history

    @admin.action(description="Retry the selected failed or cancelled jobs")
    def retry(self, request: HttpRequest, queryset: QuerySet[Migration]) -> None:
        self._each(request, queryset, copy_job_retry, "queued again")

    @admin.action(description="Cancel the selected queued or running jobs")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Migration]) -> None:
        self._each(request, queryset, copy_job_cancel, "cancelled (a running job stops at its next poll)")

    def _each(self, request: HttpRequest, queryset: QuerySet[Migration], service, done: str) -> None:
        _each(self, request, queryset, service, done, key="migration_id", label="Migration")


def _each(
    admin_: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, service, done: str, *, key: str, label: str
):
    """Call ``service`` for each selected job (by its ``key``), one message for those it did and
    one per refusal, saying why."""
    ids = list(queryset.values_list(key, flat=True))
    succeeded = []
    for job_id in ids:
        try:
            service(**{key: job_id})
        except DataLifecycleError as exc:
            admin_.message_user(request, f"{label} {job_id}: refused: {exc}", messages.WARNING)
        else:
            succeeded.append(str(job_id))
    if succeeded:
        admin_.message_user(request, f"{label} {', '.join(succeeded)}: {done}", messages.SUCCESS)


@admin.register(Deletion)
class DeletionAdmin(admin.ModelAdmin):
    list_display = (
        "deletion_id",
        "state",
        "item_name",
        "storage",
        "origin",
        "attempts",
        "items_deleted",
        "date",
        "finished_at",
        "short_error",
    )
    list_filter = ("state", "storage", "origin", "forced", "complete")
    list_select_related = ("storage",)
    search_fields = ("=deletion_id", "item_name")  # and uids and oids: get_search_results
    search_help_text = "A deletion id, an item name, or the uid of the copy or its oid (exact)."
    show_full_result_count = False
    paginator = CappedCountPaginator  # one row per deletion ever asked for: never counted whole
    ordering = ("-deletion_id",)
    actions = ["retry", "cancel"]
    fieldsets = (
        (
            None,
            {"fields": ("deletion_id", "state", "copy", "oid", "item_name", "item_type", "storage", "path", "user")},
        ),
        ("Why", {"fields": ("origin", "reason", "forced", "items_deleted")}),
        (
            "Progress",
            {"fields": ("attempts", "last_error", "url", "job_id", "next_attempt_at", "heartbeat_at")},
        ),
        ("Dates", {"fields": ("date", "started_at", "removal_started_at", "finished_at", "complete")}),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        try:
            value = uuid.UUID(term)
        except ValueError:
            return super().get_search_results(request, queryset, term)
        return queryset.filter(Q(uid=value) | Q(oid=value)), False

    @admin.display(description="last error")
    def short_error(self, job: Deletion) -> str:
        return truncatechars(job.last_error, 80)

    @admin.display(description="copy")
    def copy(self, job: Deletion) -> str:
        return admin_link(DataItem.objects.filter(uid=job.uid).first(), str(job.uid))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # deletions are asked for through the API and the lifecycle

    def has_change_permission(self, request: HttpRequest, obj: Deletion | None = None) -> bool:
        return False  # the job's row is the worker's: states change through the actions

    def has_delete_permission(self, request: HttpRequest, obj: Deletion | None = None) -> bool:
        return False  # the row is the record of what was deleted, and why

    @admin.action(description="Retry the selected failed or cancelled deletions")
    def retry(self, request: HttpRequest, queryset: QuerySet[Deletion]) -> None:
        _each(self, request, queryset, deletion_job_retry, "queued again", key="deletion_id", label="Deletion")

    @admin.action(description="Cancel the selected queued deletions")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Deletion]) -> None:
        _each(self, request, queryset, deletion_job_cancel, "cancelled", key="deletion_id", label="Deletion")


def _storage_links(storage) -> str:
    return links(
        changelist_link(Migration, "copies from here", source_storage__storage_id__exact=storage.pk),
        changelist_link(Migration, "copies to here", destination_storage__storage_id__exact=storage.pk),
        changelist_link(Deletion, "deletions here", storage__storage_id__exact=storage.pk),
    )


def _data_item_links(item: DataItem) -> str:
    return links(
        changelist_link(Migration, "copy jobs of this object", q=str(item.oid or item.uid)),
        changelist_link(Deletion, "deletions of this copy", q=str(item.uid)),
    )


STORAGE_LINKS.append(_storage_links)
DATA_ITEM_LINKS.append(_data_item_links)

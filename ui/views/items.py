"""Pages: the items list (search, filters, keyset pages) and an item's page, with its copies,
history and copy jobs, and the operator's actions on it (its object's lifecycle page is
``ui.views.item_lifecycle``).

The actions call the services the API calls, and read their form fields as the API operation
reads its parameters (``ui.action_fields``): the same values are accepted and the same messages
shown. A refused action changes nothing and shows the page again (422) with the reasons, each
naming its field (``ui.errors``); a done one redirects (POST/redirect/GET) with a message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.roles import Role, has_role
from audit.choices import ObjectType
from audit.selectors import audit_query
from catalogue import services
from catalogue.choices import ItemState, ItemType, PhaseType
from catalogue.models import DataItem, Storage
from catalogue.phases import at_least
from core.units import human_size
from migrations_app.models import Migration
from migrations_app.services import copy_job_create
from ui.access import role_required
from ui.action_fields import form_datetime, form_values
from ui.errors import REFUSALS, messages_of, refused_fields
from ui.integrity_figures import item_verification
from ui.item_search import PAGE_SIZE, Cursor, filters_parse, items_filtered, items_page

# Bounds on the item page's lists (an object has a few copies and jobs; its history may grow).
MAX_COPIES = 100
MAX_JOBS = 50
MAX_HISTORY = 100
JSON_COLUMNS = ("metadata", "item_tags", "acl", "hashes")
# Each action's form fields (named as the API operation's parameters).
ACTION_FIELDS = {
    "state": ("state",),
    "expiry": ("expiration",),
    "copy": ("destination_name", "path"),
    "register": ("item_name", "uri", "storage_name", "item_type"),
}
# --- the list -----------------------------------------------------------------------------------


def _storages() -> list[tuple[uuid.UUID, str]]:
    return list(Storage.objects.order_by("storage_name").values_list("storage_id", "storage_name"))


def _cursor(query: QueryDict, name: str, errors: list[str]) -> Cursor | None:
    raw = query.get(name, "")
    if not raw:
        return None
    cursor = Cursor.parse(raw)
    if cursor is None:
        errors.append(f"{name}: not a position in the list (use the paging links)")
    return cursor


def _link(request: HttpRequest, query: dict[str, str], **extra: str) -> str:
    return f"{request.path}?{urlencode({**query, **extra})}" if query or extra else request.path


@require_safe
@role_required(Role.VIEWER)
def items_list(request: HttpRequest) -> HttpResponse:
    """The catalogue's items, newest last, 50 a page, narrowed by the filters in the query string."""
    storages = _storages()
    filters, errors = filters_parse(request.GET)
    after = _cursor(request.GET, "after", errors)
    before = _cursor(request.GET, "before", errors)
    context: dict[str, Any] = {
        "filters": filters,
        "errors": errors,
        "storages": [name for _, name in storages],
        "states": ItemState.values,
        "phases": PhaseType.values,
        "types": ItemType.values,
        "page_size": PAGE_SIZE,
    }
    if errors:
        return render(request, "ui/items/list.html", context, status=400)
    found = items_filtered(filters, storage_ids={name: pk for pk, name in storages})
    page = items_page(found, after=after, before=before, windowed=filters.windowed)
    for item in page.items:
        item.size_shown = human_size(item.item_size)
    query = filters.as_query()
    context.update(
        page=page,
        first_url=None if page.is_first else _link(request, query),
        next_url=_link(request, query, after=str(page.next_cursor)) if page.next_cursor else None,
        previous_url=_link(request, query, before=str(page.previous_cursor)) if page.previous_cursor else None,
    )
    return render(request, "ui/items/list.html", context)


# --- the item page ------------------------------------------------------------------------------


def item_find(uid_text: str) -> DataItem | None:
    try:
        uid = uuid.UUID(uid_text)
    except ValueError:
        return None
    return DataItem.objects.select_related("storage").filter(uid=uid).first()


def item_not_found(request: HttpRequest, uid_text: str) -> HttpResponse:
    return render(request, "ui/items/not_found.html", {"uid": uid_text}, status=404)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _fields(item: DataItem) -> list[dict[str, Any]]:
    """Every column of the item, for the page: name, value, and how to show it."""
    shown = []
    for field in DataItem._meta.concrete_fields:
        if field.attname == "metadata":
            continue  # shown on its own, pretty-printed
        value = getattr(item, field.attname)
        kind = "text"
        if field.name == "storage":
            kind = "storage"
        elif field.attname in JSON_COLUMNS:
            kind, value = "json", (None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False))
        elif field.attname in ("item_size", "decompressed_size"):
            kind = "size"
        elif field.get_internal_type() == "DateTimeField":
            kind = "time"
        elif field.attname == "oid":
            kind = "oid"
        elif field.attname in ("parents", "children"):
            kind = "uid"
        shown.append({"name": field.attname, "value": value, "kind": kind})
    return shown


def _changes(record: Any) -> list[dict[str, Any]]:
    """An audit record's changes as rows: ``field, before, after`` for an update; ``field, value``
    for a create or a delete (the whole row)."""
    rows = []
    for name, value in sorted((record.changes or {}).items()):
        if record.action == "update" and isinstance(value, list) and len(value) == 2:
            rows.append({"field": name, "before": _short(value[0]), "after": _short(value[1]), "update": True})
        else:
            rows.append({"field": name, "value": _short(value), "update": False})
    return rows


def _short(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _history(item: DataItem) -> list[dict[str, Any]]:
    records = audit_query(object_type=ObjectType.DATA_ITEM, object_id=str(item.uid))[:MAX_HISTORY]
    return [{"record": record, "changes": _changes(record)} for record in records]


def _detail(
    request: HttpRequest,
    item: DataItem,
    *,
    action: str = "",
    refused: Exception | None = None,
    values: QueryDict | None = None,
) -> HttpResponse:
    copies = list(
        DataItem.objects.filter(oid=item.oid).select_related("storage").order_by("uid_creation", "uid")[:MAX_COPIES]
        if item.oid
        else [item]
    )
    jobs = (
        list(
            Migration.objects.filter(oid=item.oid)
            .select_related("source_storage", "destination_storage")
            .order_by("-migration_id")[:MAX_JOBS]
        )
        if item.oid
        else []
    )
    for copy in copies:
        copy.size_shown = human_size(copy.item_size)
    history = _history(item)
    form = {
        "state": item.item_state,
        "expiration": item.uid_expiration.strftime("%Y-%m-%dT%H:%M:%S") if item.uid_expiration else "",
        "destination_name": "",
        "path": "",
        "item_name": "",
        "uri": "",
        "storage_name": item.storage.storage_name if item.storage else "",
        "item_type": ItemType.FILE.value,
    }
    if values is not None:  # a refused action: its form as it was sent
        form.update({name: values[name] for name in ACTION_FIELDS.get(action, ()) if name in values})
    context = {
        "item": item,
        "fields": _fields(item),
        "metadata": None if item.metadata is None else _pretty(item.metadata),
        "copies": copies,
        "copies_capped": len(copies) == MAX_COPIES,
        "jobs": jobs,
        "jobs_capped": len(jobs) == MAX_JOBS,
        "history": history,
        "history_capped": len(history) == MAX_HISTORY,
        "max_history": MAX_HISTORY,
        "states": ItemState.values,
        "types": ItemType.values,
        "action": action,
        "action_errors": messages_of(refused) if refused else [],
        "invalid": refused_fields(refused) if refused else set(),
        "form": form,
        "size_shown": human_size(item.item_size),
        "at_target": at_least(item.oid_phase, item.target_phase),
        "verification": item_verification(item),
    }
    if has_role(request.user, Role.OPERATOR):  # the actions' storage choices
        context["storages"] = [name for _, name in _storages()]
    return render(request, "ui/items/detail.html", context, status=422 if refused else 200)


@require_safe
@role_required(Role.VIEWER)
def item_detail(request: HttpRequest, uid: str) -> HttpResponse:
    """One item: its columns, every copy of its object, its history, its copy jobs; the actions
    for operators."""
    item = item_find(uid)
    if item is None:
        return item_not_found(request, uid)
    return _detail(request, item)


# --- actions ------------------------------------------------------------------------------------


def _act(request: HttpRequest, uid: str, action: str, act: Callable[[DataItem], tuple[str, str]]) -> HttpResponse:
    """Run an action on the item: on success a message and a redirect (``act`` answers both);
    refused, the item page again with the reasons, and nothing written."""
    item = item_find(uid)
    if item is None:
        return item_not_found(request, uid)
    try:
        message, target = act(item)
    except REFUSALS as exc:
        return _detail(request, item, action=action, refused=exc, values=request.POST)
    messages.success(request, message)
    return redirect(target)


@require_POST
@role_required(Role.OPERATOR)
def item_set_state(request: HttpRequest, uid: str) -> HttpResponse:
    """Set the copy's state, as ``PATCH /request/set_state``."""

    def act(item: DataItem) -> tuple[str, str]:
        state = form_values(request.POST, "set_state", ACTION_FIELDS["state"])["state"]
        services.data_item_set(uid=item.uid, fields={"item_state": state})
        return f"State set to {state}.", f"/items/{item.uid}"

    return _act(request, uid, "state", act)


@require_POST
@role_required(Role.OPERATOR)
def item_set_expiry(request: HttpRequest, uid: str) -> HttpResponse:
    """Set the copy's ``uid_expiration``, as ``PATCH /request/set_uid_expiration`` (a time without
    an offset is UTC)."""

    def act(item: DataItem) -> tuple[str, str]:
        raw = form_values(request.POST, "set_uid_expiration", ACTION_FIELDS["expiry"])["expiration"]
        expiration = form_datetime("expiration", raw)
        updated = services.data_item_set(uid=item.uid, fields={"uid_expiration": expiration})
        return f"Expiry set to {updated.uid_expiration:%Y-%m-%d %H:%M:%S} UTC.", f"/items/{item.uid}"

    return _act(request, uid, "expiry", act)


@require_POST
@role_required(Role.OPERATOR)
def item_copy(request: HttpRequest, uid: str) -> HttpResponse:
    """Copy this copy to another storage, as ``POST /migration/copy_data_item``; then its job's page."""

    def act(item: DataItem) -> tuple[str, str]:
        values = form_values(request.POST, "copy_data_item", ACTION_FIELDS["copy"])
        job = copy_job_create(
            user=request.user.get_username(),
            uid=item.uid,
            destination_name=values["destination_name"],
            path=values["path"],
        )
        return (
            f"Copy job {job.migration_id} queued: to {job.destination_storage.storage_name}.",
            f"/jobs/{job.migration_id}",
        )

    return _act(request, uid, "copy", act)


@require_POST
@role_required(Role.OPERATOR)
def item_register(request: HttpRequest, uid: str) -> HttpResponse:
    """Register another file already on a storage, as ``POST /ingest/register_data_item`` (its
    bytes are checked through rclone); then the new item's page."""

    def act(item: DataItem) -> tuple[str, str]:
        values = form_values(request.POST, "register_data_item", ACTION_FIELDS["register"])
        new = services.data_item_register(owner=request.user.get_username(), **values)
        return f"Registered {new.item_name} ({new.uid}).", f"/items/{new.uid}"

    return _act(request, uid, "register", act)


@require_http_methods(["GET", "HEAD", "POST"])
@role_required(Role.OPERATOR)
def item_register_new(request: HttpRequest) -> HttpResponse:
    """Register a file already on a storage, as ``POST /ingest/register_data_item`` (its bytes are
    checked through rclone); then the new item's page."""
    context: dict[str, Any] = {
        "storages": [name for _, name in _storages()],
        "types": ItemType.values,
        "form": {"storage_name": request.GET.get("storage", ""), "item_type": ItemType.FILE},
        "action_errors": [],
        "invalid": set(),
    }
    if request.method == "POST":
        try:
            values = form_values(request.POST, "register_data_item", ACTION_FIELDS["register"])
            new = services.data_item_register(owner=request.user.get_username(), **values)
        except REFUSALS as exc:
            context.update(form=request.POST, action_errors=messages_of(exc), invalid=refused_fields(exc))
            return render(request, "ui/items/register.html", context, status=422)
        messages.success(request, f"Registered {new.item_name} ({new.uid}).")
        return redirect(f"/items/{new.uid}")
    return render(request, "ui/items/register.html", context)


urlpatterns = [
    path("items", items_list, name="items"),
    path("items/register", item_register_new, name="item_register_new"),
    path("items/<str:uid>", item_detail, name="item"),
    path("items/<str:uid>/state", item_set_state, name="item_set_state"),
    path("items/<str:uid>/expiry", item_set_expiry, name="item_set_expiry"),
    path("items/<str:uid>/copy", item_copy, name="item_copy"),
    path("items/<str:uid>/register", item_register, name="item_register"),
]

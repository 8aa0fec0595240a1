"""Page: an item's object as the lifecycle sees it (phase and target, why it is not at its target,
the rules it matches, the jobs and holds), with each copy's expiry and deletion for operators.

The actions call the services the API calls and read their form fields as the API operations
read their parameters (``ui.action_fields``); a refusal is shown beside the copy's field it names
(``ui.errors``), or as a message.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST, require_safe

from accounts.roles import Role, has_role
from catalogue import services
from catalogue.models import DataItem
from core.errors import ObjectNotFound
from lifecycle import services as lifecycle_services
from lifecycle.models import HoldKind, PlacementRule
from ui.access import role_required
from ui.action_fields import form_datetime, form_values
from ui.errors import REFUSALS, messages_of, refused_fields
from ui.views.items import item_find, item_not_found

# Each action's form fields (named as the API operation's parameters), for the copy ``uid``.
ACTION_FIELDS = {"copy-delete": ("uid", "force"), "copy-expiry": ("uid", "expiration")}


def _when(text: str | None) -> datetime | None:
    """A time of the lifecycle's answer (naive UTC ISO text) as an aware time."""
    if not text:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _lifecycle_copies(request: HttpRequest, explained: dict[str, Any]) -> list[dict[str, Any]]:
    """The object's copies as its lifecycle page lists them: each one's expiry, whether it
    counts, and, for an operator, why deleting it would be refused without force."""
    acting = has_role(request.user, Role.OPERATOR)
    copies = []
    for entry in explained["copies"]:
        copy = {
            **entry,
            "expires": _when(entry["uid_expiration"]),
            "expiration": (entry["uid_expiration"] or "")[:19],  # the expiry form's value
            "deletable": not entry["being_deleted_by"] and not entry["being_written_by"],
            "refusal": "",
        }
        if acting and copy["deletable"] and entry["counts"]:
            copy["refusal"] = lifecycle_services.copy_delete_refusal(uid=uuid.UUID(entry["uid"]))
        copies.append(copy)
    return copies


def _lifecycle(
    request: HttpRequest,
    item: DataItem,
    *,
    refused: Exception | None = None,
    values: QueryDict | None = None,
) -> HttpResponse:
    """The object's lifecycle page; a refused expiry shown beside the copy's field it names."""
    context: dict[str, Any] = {"item": item, "explained": None, "problem": []}
    try:
        explained = lifecycle_services.item_lifecycle(uid=item.uid)
    except REFUSALS as exc:
        context["problem"] = messages_of(exc)
        return render(request, "ui/items/lifecycle.html", context)
    copies = _lifecycle_copies(request, explained)
    refused_copy = (values or {}).get("uid", "") if refused else ""
    for copy in copies:
        if refused and copy["uid"] == refused_copy:
            copy["expiration"] = values.get("expiration", "")
            copy["errors"] = messages_of(refused)
            copy["invalid"] = refused_fields(refused)
    rule_ids = dict(
        PlacementRule.objects.filter(name__in=[rule["rule"] for rule in explained["rules"]]).values_list(
            "name", "rule_id"
        )
    )
    context.update(
        explained=explained,
        copies=copies,
        oid_expires=_when(explained["oid_expiration"]),
        rules=[{**rule, "rule_id": rule_ids.get(rule["rule"])} for rule in explained["rules"]],
        holds=[
            {**hold, "label": _hold_label(hold["kind"]), "since": _when(hold["since"])} for hold in explained["holds"]
        ],
        # a refusal about no copy on the page (an unreadable uid): shown at the top
        action_errors=messages_of(refused) if refused and not any(c["uid"] == refused_copy for c in copies) else [],
    )
    return render(request, "ui/items/lifecycle.html", context, status=422 if refused else 200)


def _hold_label(kind: str) -> str:
    return HoldKind(kind).label if kind in HoldKind.values else kind


def _copy_of(item: DataItem, uid: uuid.UUID) -> DataItem:
    """The copy ``uid`` of the item's object; refused (naming ``uid``) when it is none of them."""
    copy = DataItem.objects.select_related("storage").filter(uid=uid).first()
    if copy is None or (copy.uid != item.uid and (item.oid is None or copy.oid != item.oid)):
        raise ObjectNotFound(f"No copy {uid} of this object", field="uid")
    return copy


@require_safe
@role_required(Role.VIEWER)
def item_lifecycle(request: HttpRequest, uid: str) -> HttpResponse:
    """How the lifecycle sees the item's object (``GET /request/query_item_lifecycle``): its phase
    and target and why it is not there yet, its copies with their expiry, the rules it matches and
    what they still ask, the jobs under way and what is held back; each copy's expiry and deletion
    for operators, and why a deletion would be refused."""
    item = item_find(uid)
    if item is None:
        return item_not_found(request, uid)
    return _lifecycle(request, item)


@require_POST
@role_required(Role.OPERATOR)
def item_copy_delete(request: HttpRequest, uid: str) -> HttpResponse:
    """Delete a copy's payload, as ``POST /storage/delete_data_item_payload``: a job, refused
    (shown as a message) when the object would be left short, unless ``force`` is given."""
    item = item_find(uid)
    if item is None:
        return item_not_found(request, uid)
    back = f"/items/{item.uid}/lifecycle"
    try:
        values = form_values(request.POST, "delete_data_item_payload", ACTION_FIELDS["copy-delete"])
        copy = _copy_of(item, values["uid"])
        deletion = lifecycle_services.copy_delete(uid=copy.uid, user=request.user.get_username(), force=values["force"])
    except REFUSALS as exc:
        for line in messages_of(exc):
            messages.error(request, line)
        return redirect(back)
    where = copy.storage.storage_name if copy.storage else "no storage"
    forced = " (forced past the resilience check)" if deletion.forced else ""
    messages.success(
        request,
        f"Deletion {deletion.deletion_id} queued{forced}: a worker removes the payload of copy {copy.uid} on {where}.",
    )
    return redirect(back)


@require_POST
@role_required(Role.OPERATOR)
def item_copy_expiry(request: HttpRequest, uid: str) -> HttpResponse:
    """Set a copy's ``uid_expiration``, as ``PATCH /request/set_uid_expiration`` (a time without an
    offset is UTC); a refusal beside that copy's field."""
    item = item_find(uid)
    if item is None:
        return item_not_found(request, uid)
    try:
        values = form_values(request.POST, "set_uid_expiration", ACTION_FIELDS["copy-expiry"])
        copy = _copy_of(item, values["uid"])
        expiration = form_datetime("expiration", values["expiration"])
        updated = services.data_item_set(uid=copy.uid, fields={"uid_expiration": expiration})
    except REFUSALS as exc:
        return _lifecycle(request, item, refused=exc, values=request.POST)
    messages.success(request, f"Copy {copy.uid} now expires at {updated.uid_expiration:%Y-%m-%d %H:%M:%S} UTC.")
    return redirect(f"/items/{item.uid}/lifecycle")


urlpatterns = [
    path("items/<str:uid>/lifecycle", item_lifecycle, name="item_lifecycle"),
    path("items/<str:uid>/lifecycle/delete", item_copy_delete, name="item_copy_delete"),
    path("items/<str:uid>/lifecycle/expiry", item_copy_expiry, name="item_copy_expiry"),
]

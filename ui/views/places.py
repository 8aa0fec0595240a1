"""Pages: locations and storages — what each holds, whether it can be reached, its rclone remote
(secrets masked), its latest items and copy jobs; and the admin forms that create them.

The forms call the API's services (``location_create``, ``storage_create``,
``storage_config_create``) and show their refusals beside the fields they name.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.roles import Role
from catalogue import capacity, services
from catalogue.choices import ConfigType
from catalogue.models import DataItem, Location, Storage, StorageConfig
from catalogue.selectors import config_shown
from core.crypto import SecretDecryptionError
from core.secrets import MASK, is_secret_option
from core.units import human_size
from migrations_app.models import Migration
from migrations_app.states import FAILURES, SUCCEEDED
from ui.access import role_required
from ui.errors import REFUSALS
from ui.forms import RCLONE_TYPES, ConfigForm, LocationForm, StorageForm
from ui.views.dashboard import capacity_context, catalogue_figures, first_line, storage_rows, storages_with_remote

LATEST = 20  # items and jobs shown on a storage's page
FORM_REFUSED = 422  # a form sent back with errors (the API's status for refused input)


def _not_found(request: HttpRequest, what: str, back: str, back_label: str) -> HttpResponse:
    context = {"what": what, "back": back, "back_label": back_label}
    return render(request, "ui/places/not_found.html", context, status=404)


def _check_key(storage: Storage) -> str:
    return f"ui:storage-check:{storage.pk}"


def _storage_table(storages: list[Storage]) -> dict[str, Any]:
    figures = catalogue_figures()
    return {
        "storage_rows": storage_rows(storages, figures),
        "figures": figures,
        "configured": storages_with_remote(storages),
        **capacity_context(),
    }


def _refused(form: Any) -> int:
    return FORM_REFUSED if form.errors else 200


# --- locations --------------------------------------------------------------------------------


@require_safe
@role_required(Role.VIEWER)
def location_list(request: HttpRequest) -> HttpResponse:
    """Every location, with how many storages it hosts."""
    locations = Location.objects.annotate(storage_count=Count("storages")).order_by("location_name")
    return render(request, "ui/places/location_list.html", {"locations": locations})


@require_safe
@role_required(Role.VIEWER)
def location_detail(request: HttpRequest, location_id: uuid.UUID) -> HttpResponse:
    """A location's fields and its storages."""
    location = Location.objects.filter(pk=location_id).first()
    if location is None:
        return _not_found(request, "location", "/locations", "All locations")
    storages = list(capacity.storages_with_use(location.storages.select_related("location").order_by("storage_name")))
    context = {"location": location, **_storage_table(storages)}
    return render(request, "ui/places/location_detail.html", context)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def location_create(request: HttpRequest) -> HttpResponse:
    """A new location (``init_location``)."""
    form = LocationForm(request.POST) if request.method == "POST" else LocationForm()
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                location = services.location_create(**form.cleaned_data)
        except REFUSALS as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Location {location.location_name} created.")
            return redirect("location", location_id=location.pk)
    return render(request, "ui/places/location_form.html", {"form": form}, status=_refused(form))


# --- storages ---------------------------------------------------------------------------------


@require_safe
@role_required(Role.VIEWER)
def storage_list(request: HttpRequest) -> HttpResponse:
    """Every storage: where it is, what it is, how full, whether it was reachable, what it holds."""
    storages = list(capacity.storages_with_use(Storage.objects.select_related("location").order_by("storage_name")))
    return render(request, "ui/places/storage_list.html", _storage_table(storages))


def _shown_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _config_view(config: StorageConfig, masked: dict[str, Any], *, readable: bool, in_use: bool) -> dict[str, Any]:
    """A remote definition as the page shows it: secrets are ``MASK`` already."""
    parameters = masked.get("parameters") if isinstance(masked.get("parameters"), dict) else {}
    known = {"name", "type", "root_path", "parameters"}
    return {
        "config": config,
        "name": masked.get("name"),
        "type": masked.get("type"),
        "root_path": masked.get("root_path"),
        "parameters": [
            {"key": key, "value": _shown_value(value), "secret": value == MASK and is_secret_option(key)}
            for key, value in sorted(parameters.items())
        ],
        "other": [(key, _shown_value(value)) for key, value in masked.items() if key not in known],
        "readable": readable,
        "in_use": in_use,
    }


def _configs(storage: Storage) -> list[dict[str, Any]]:
    """The storage's remote definitions, every secret masked. Secrets that this server's keys
    cannot decrypt are left out, and said so."""
    readable = True
    try:
        configs = list(storage.configs.all())
    except SecretDecryptionError:
        readable = False
        configs = list(storage.configs.defer("secrets"))
    # DLM reaches the storage through its first rclone definition (``storage_remote``).
    in_use = next((c.pk for c in configs if c.config_type == ConfigType.RCLONE), None)
    return [
        _config_view(
            c, config_shown(c.config, c.secrets if readable else None), readable=readable, in_use=c.pk == in_use
        )
        for c in configs
    ]


@require_safe
@role_required(Role.VIEWER)
def storage_detail(request: HttpRequest, storage_id: uuid.UUID) -> HttpResponse:
    """A storage: its fields, its remote definitions (masked), its last access check, and its
    latest items and copy jobs."""
    storage = Storage.objects.select_related("location").filter(pk=storage_id).first()
    if storage is None:
        return _not_found(request, "storage", "/storages", "All storages")
    items = (
        DataItem.objects.filter(storage=storage)
        .only("uid", "item_name", "item_state", "item_size", "uid_creation", "uid_expiration", "storage_id")
        .order_by("-uid_creation", "-uid")[:LATEST]
    )
    item_rows = [{"item": item, "size": human_size(item.item_size)} for item in items]
    jobs = (
        Migration.objects.filter(Q(source_storage=storage) | Q(destination_storage=storage))
        .select_related("source_storage", "destination_storage")
        .order_by("-migration_id")[:LATEST]
    )
    check = request.session.get(_check_key(storage))
    last_checked = storage.storage_last_checked
    if not check or not last_checked or check.get("checked_at") != last_checked.isoformat():
        check = None  # the reason shown must be that of the latest check
    table = _storage_table([storage])
    context = {
        "storage": storage,
        "row": table["storage_rows"][0],
        "figures": table["figures"],
        **capacity_context(),
        "configs": _configs(storage),
        "check": check,
        "items": item_rows,
        "jobs": [
            {
                "job": job,
                "reason": first_line(job.last_error),
                "failed": job.state in FAILURES,
                "succeeded": job.state in SUCCEEDED,
            }
            for job in jobs
        ],
        "latest": LATEST,
        "items_link": "/items?" + urlencode({"storage": storage.storage_name}),
        "jobs_link": "/jobs?" + urlencode({"storage": storage.storage_name}),
    }
    return render(request, "ui/places/storage_detail.html", context)


@role_required(Role.OPERATOR)
@require_POST
def storage_check(request: HttpRequest, storage_id: uuid.UUID) -> HttpResponse:
    """Check now whether rclone reaches the storage's remote; the outcome is recorded on the
    storage (and in the audit trail, as the user's change), and rclone's reason is shown on its
    page."""
    storage = Storage.objects.filter(pk=storage_id).first()
    if storage is None:
        return _not_found(request, "storage", "/storages", "All storages")
    result = services.storage_check_access(storage=storage)
    request.session[_check_key(storage)] = {
        "reachable": result["reachable"],
        "error": result["error"],
        "checked_at": storage.storage_last_checked.isoformat(),
    }
    if result["reachable"]:
        messages.success(request, f"Access checked: {storage.storage_name} is reachable.")
    else:
        messages.error(request, f"Access checked: {storage.storage_name} is not reachable (the reason is below).")
    return redirect(f"/storages/{storage.pk}#access")


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def storage_create(request: HttpRequest) -> HttpResponse:
    """A new storage at a location (``init_storage``)."""
    if request.method == "POST":
        form = StorageForm(request.POST)
    else:
        form = StorageForm(initial={"location_id": request.GET.get("location", "")})
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                storage = services.storage_create(**form.service_arguments())
        except REFUSALS as exc:
            form.add_service_error(exc)
        else:
            messages.success(
                request, f"Storage {storage.storage_name} created. Add its rclone remote so DLM can reach it."
            )
            return redirect("storage", storage_id=storage.pk)
    context = {"form": form, "has_locations": Location.objects.exists()}
    return render(request, "ui/places/storage_form.html", context, status=_refused(form))


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def config_create(request: HttpRequest, storage_id: uuid.UUID) -> HttpResponse:
    """A new rclone remote definition for a storage (``create_storage_config``), tried against
    the remote first unless the admin says not to."""
    storage = Storage.objects.filter(pk=storage_id).first()
    if storage is None:
        return _not_found(request, "storage", "/storages", "All storages")
    if request.method == "POST":
        form = ConfigForm(request.POST)
    else:
        form = ConfigForm(initial={"name": storage.storage_name, "root_path": "/"})
    if request.method == "POST" and form.is_valid():
        check = form.cleaned_data["check_remote"]
        try:
            # Not in a transaction: the remote check may take a while, and nothing is written
            # before it has passed (the service writes one row after).
            config = services.storage_config_create(config=form.config, storage_id=storage.pk, check_remote=check)
        except REFUSALS as exc:
            form.add_service_error(exc)
        else:
            how = "rclone reached the remote" if check else "the remote was not checked"
            name = config.config.get("name")
            messages.success(request, f"rclone remote {name} added to {storage.storage_name}: {how}.")
            return redirect(f"/storages/{storage.pk}#configs")
    context = {
        "form": form,
        "storage": storage,
        "rclone_types": RCLONE_TYPES,
        "secret_rule": ConfigForm.secret_rule(),
    }
    return render(request, "ui/places/config_form.html", context, status=_refused(form))


urlpatterns = [
    path("locations", location_list, name="locations"),
    path("locations/new", location_create, name="location-new"),
    path("locations/<uuid:location_id>", location_detail, name="location"),
    path("storages", storage_list, name="storages"),
    path("storages/new", storage_create, name="storage-new"),
    path("storages/<uuid:storage_id>", storage_detail, name="storage"),
    path("storages/<uuid:storage_id>/check", storage_check, name="storage-check"),
    path("storages/<uuid:storage_id>/configs/new", config_create, name="storage-config-new"),
]

"""Admin pages that write through the catalogue's services.

A ``ServiceAdmin`` adds, changes and deletes by calling services (``service_create``,
``service_update``, ``service_delete``), so that the rules the API applies apply here too and the
audit trail records the writes under the admin's actor (set by the audit middleware for the
POST). The form checks what it can; the service judges, and writes once. When it refuses, nothing
is written (the request's transaction is rolled back) and the form is shown again with the
refusal beside the field the service names.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist
from django.db import models, router, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect

from catalogue.admin_forms import ServiceModelForm, refusal_parts
from core.errors import DataLifecycleError, FieldError, FieldErrors

# Where the first attempt of a form leaves the service's refusal for the second, on the request.
_REFUSED = "_catalogue_admin_refused"


class AdminRefusal(Exception):
    """A service refused the admin's write; ``error`` is its domain exception."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@contextmanager
def refusable() -> Iterator[None]:
    """Turn a service's refusal inside the block into an ``AdminRefusal``."""
    try:
        yield
    except (DataLifecycleError, FieldError, FieldErrors) as exc:
        raise AdminRefusal(exc) from exc


def form_columns(form: forms.ModelForm, obj: models.Model, *, changed_only: bool = False) -> dict[str, Any]:
    """The model columns the form sets on ``obj``, by attribute name (``location_id``), as the
    services take them: all of them, or those the admin changed."""
    names = form.changed_data if changed_only else list(form.cleaned_data)
    columns = {}
    for name in names:
        try:
            field = obj._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if field.concrete and not field.primary_key:
            columns[field.attname] = getattr(obj, field.attname)
    return columns


def _carrying(form_class: type[ServiceModelForm], error: Exception) -> type[ServiceModelForm]:
    """``form_class`` whose validation ends with ``error``, the refusal of the first attempt."""

    def full_clean(self: ServiceModelForm) -> None:
        form_class.full_clean(self)
        if hasattr(self, "cleaned_data"):
            self.add_refusal(error)

    return type(form_class.__name__, (form_class,), {"full_clean": full_clean, "__module__": form_class.__module__})


class ServiceAdmin(admin.ModelAdmin):
    """A model admin whose writes are service calls; see the module's docstring."""

    form = ServiceModelForm
    # A POST runs in one transaction, as Django's own. False for a service that waits on a remote
    # before its short write: on SQLite a request-long transaction would hold the write lock.
    one_transaction: ClassVar[bool] = True

    def service_create(self, obj: models.Model, form: ServiceModelForm) -> models.Model:
        """Create the row the add form describes; answers it."""
        raise NotImplementedError

    def service_update(self, obj: models.Model, form: ServiceModelForm) -> models.Model:
        """Write the change form's changes to ``obj``'s row; answers it."""
        raise NotImplementedError

    def service_delete(self, obj: models.Model) -> None:
        """Delete ``obj``'s row."""
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: models.Model, form: ServiceModelForm, change: bool) -> None:
        with refusable():
            saved = self.service_update(obj, form) if change else self.service_create(obj, form)
        deferred = saved.get_deferred_fields()
        for field in obj._meta.concrete_fields:  # the page goes on with the row as stored
            if field.attname not in deferred:
                setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        with refusable():
            self.service_delete(obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def form_for(self, request: HttpRequest, obj: models.Model | None = None, change: bool = False, **kwargs: Any):
        """The form class of the add or change page (what ``get_form`` is to Django's admin)."""
        return super().get_form(request, obj, change, **kwargs)

    def get_form(self, request: HttpRequest, obj: models.Model | None = None, change: bool = False, **kwargs: Any):
        form = self.form_for(request, obj, change, **kwargs)
        refused = getattr(request, _REFUSED, None)
        return form if refused is None else _carrying(form, refused)

    def _changeform(self, request: HttpRequest, object_id: str | None, form_url: str, extra_context: Any):
        if self.one_transaction:
            return super().changeform_view(request, object_id, form_url, extra_context)
        return self._changeform_view(request, object_id, form_url, extra_context)

    @method_decorator(csrf_protect)
    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None) -> HttpResponse:
        try:
            return self._changeform(request, object_id, form_url, extra_context)
        except AdminRefusal as refusal:
            # Rolled back; the form again, valid but for the refusal, and nothing is retried.
            setattr(request, _REFUSED, refusal.error)
            return self._changeform(request, object_id, form_url, extra_context)

    def _refused(self, request: HttpRequest, refusal: AdminRefusal) -> HttpResponse:
        for _, _, message in refusal_parts(refusal.error):
            self.message_user(request, message, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except AdminRefusal as refusal:
            return self._refused(request, refusal)

    def response_action(self, request: HttpRequest, queryset: models.QuerySet) -> HttpResponse | None:
        # A bulk delete is all or nothing: one refused row leaves every row (and the log) as it was.
        if request.POST.get("action") != "delete_selected":
            return super().response_action(request, queryset)
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
                return super().response_action(request, queryset)
        except AdminRefusal as refusal:
            return self._refused(request, refusal)

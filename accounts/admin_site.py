"""DLM's admin site: open to accounts holding the DLM admin role, and to nobody else.

Django's own site admits ``is_staff`` accounts and then asks for a model permission per page. DLM
keeps who may do what in its roles (``accounts.roles``), so the site admits active accounts with the
admin role (superusers count as admins) and every model admin registered on it grants those
accounts what Django's stock permission checks would ask model permissions for. A model admin
that refuses something outright (no adding audit records, no adding django-q2 tasks) still
refuses: only Django's stock checks are replaced.

``DlmAdminConfig`` (in ``dlm.apps``) makes this the default site, so that the registrations of
django.contrib.auth, knox and django-q2 land on it too.
"""

from __future__ import annotations

from functools import update_wrapper
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import BaseModelAdmin, InlineModelAdmin
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from accounts.roles import Role, has_role, user_role

# Django's own permission checks: each only asks ``user.has_perm`` for the model. A class of
# these is where the role takes over; any other class's override is the admin's own rule.
_STOCK = (BaseModelAdmin, admin.ModelAdmin, InlineModelAdmin, admin.TabularInline, admin.StackedInline)
_PERMISSION_METHODS = (
    "has_module_permission",
    "has_view_permission",
    "has_add_permission",
    "has_change_permission",
    "has_delete_permission",
)


def is_dlm_admin(request: HttpRequest) -> bool:
    """True when the request's account is active and holds the DLM admin role."""
    user = request.user
    return bool(user.is_active and has_role(user, Role.ADMIN))


class RoleAdminMixin:
    """Model permissions from the DLM admin role: an admin-role account may view, add, change and
    delete wherever the model admin's own rules allow it, with or without Django model
    permissions; any other account may do nothing."""

    def _role_allows(self, name: str, request: HttpRequest, *args: Any) -> bool:
        if not is_dlm_admin(request):
            return False
        mro = type(self).__mro__
        for klass in mro[mro.index(RoleAdminMixin) + 1 :]:
            if name in vars(klass):
                if klass in _STOCK:
                    return True
                return getattr(super(), name)(request, *args)
        return True

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._role_allows("has_module_permission", request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._role_allows("has_view_permission", request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        # ``*args``: an inline's has_add_permission also takes the parent object.
        return self._role_allows("has_add_permission", request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._role_allows("has_change_permission", request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._role_allows("has_delete_permission", request, obj)


class RoleAuthenticationForm(AuthenticationForm):
    """The admin's login form: an account with the DLM admin role, not a "staff" account."""

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not has_role(user, Role.ADMIN):
            raise ValidationError(
                "This account does not hold the DLM admin role, which the admin console needs.",
                code="no_admin_role",
            )


class DlmAdminSite(admin.AdminSite):
    """The admin console: DLM admins only. Anonymous visitors are sent to the login page; a
    logged-in account without the admin role gets 403, never a page's content."""

    site_header = "DLM administration"
    site_title = "DLM admin"
    index_title = "Configuration"
    site_url = "/"
    login_form = RoleAuthenticationForm
    login_template = "admin/dlm_login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        return is_dlm_admin(request)

    def register(self, model_or_iterable, admin_class=None, **options: Any) -> None:
        """Register as Django does, with ``RoleAdminMixin`` put in front of the model admin
        (so that django.contrib.auth's, knox's and django-q2's admins grant the role too)."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, RoleAdminMixin):
            attrs = {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__}
            admin_class = type(admin_class.__name__, (RoleAdminMixin, admin_class), attrs)
        super().register(model_or_iterable, admin_class, **options)

    def admin_view(self, view, cacheable: bool = False):
        wrapped = super().admin_view(view, cacheable)

        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            logout = reverse("admin:logout", current_app=self.name)
            if request.user.is_authenticated and not self.has_permission(request) and request.path != logout:
                return self.forbidden(request)
            return wrapped(request, *args, **kwargs)

        return update_wrapper(guarded, wrapped)

    def forbidden(self, request: HttpRequest) -> HttpResponse:
        """403 for a logged-in account without the admin role: which role it has, and what is needed."""
        context = {
            **self.each_context(request),
            "title": "The admin role is needed",
            "role": user_role(request.user),
            "login_url": reverse("admin:login", current_app=self.name),
        }
        return render(request, "admin/dlm_forbidden.html", context, status=403)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # DLM's own login page (the organisation's provider, when configured) works for the admin
        # too; this form is for accounts kept in DLM.
        context = {
            "oidc_enabled": settings.OIDC_ENABLED,
            "dlm_login_url": settings.LOGIN_URL,
            **(extra_context or {}),
        }
        return super().login(request, extra_context=context)


class CappedCountPaginator(Paginator):
    """A paginator that counts at most ``cap`` rows (``SELECT COUNT(*)`` of a ``LIMIT`` subquery),
    for lists too long to count on every page view. ``capped`` says that there are more; the
    pages beyond the cap are reached by searching or filtering instead."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        counted = self.object_list.order_by().values("pk")[: self.cap + 1].count()
        self._capped = counted > self.cap
        return min(counted, self.cap)

    @property
    def capped(self) -> bool:
        """True when there are more rows than ``count`` says."""
        return self.count >= self.cap and self._capped


def admin_link(obj: Model | None, text: str | None = None) -> str:
    """A link to the admin change page of ``obj`` (empty text for None)."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else str(obj))


def changelist_link(model: type[Model], text: str, **filters: Any) -> str:
    """A link to a model's admin list narrowed by ``filters`` (admin list lookups)."""
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(filters), text)


def links(*items: str) -> str:
    """Links (already safe HTML) shown one after another."""
    return format_html_join(" · ", "{}", ((item,) for item in items))

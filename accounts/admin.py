"""Accounts, their roles, API tokens and provider identities in the admin console.

Tokens are shown by their ``token_key`` (the first characters of the token, which
``/tokens/list_tokens`` calls ``token_id``), never by knox's digest; they are revoked here, not
created (a new token is shown once, on the tokens page or by ``create_api_token``, never kept in a
message). Provider identities are made by logging in: here they can be looked at and removed.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from knox.models import AuthToken

from accounts.admin_site import RoleAdminMixin, admin_link, changelist_link, links
from accounts.models import ProviderIdentity
from accounts.roles import Role, role_subquery
from accounts.tokens import api_token_revoke
from core.errors import DataLifecycleError

User = get_user_model()


def _token_str(token: AuthToken) -> str:
    return f"API token {token.token_key}…"


# knox names a token by its digest: the admin shows a row's name in titles, breadcrumbs, the
# delete page and its history, where DLM shows the token's key instead.
AuthToken.__str__ = _token_str


class ExpiredFilter(admin.SimpleListFilter):
    title = "expired"
    parameter_name = "expired"

    def lookups(self, request, model_admin):
        return [("yes", "Expired"), ("no", "Valid")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(expiry__lt=now)
        if self.value() == "no":
            return queryset.filter(Q(expiry__isnull=True) | Q(expiry__gte=now))
        return queryset


admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens: looked at and revoked (the revocation applies at once in this process, and
    within ``DLM_AUTH_CACHE_SECONDS`` in the others)."""

    list_display = ("token_key", "token_name", "owner", "token_source", "created", "expiry", "is_expired")
    list_select_related = ("user", "info")
    list_filter = (ExpiredFilter, "info__source")
    search_fields = ("=token_key", "user__username", "info__name")
    ordering = ("-created", "token_key")
    fields = ("token_key", "token_name", "token_source", "owner", "created", "expiry", "is_expired")
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="name", ordering="info__name")
    def token_name(self, token: AuthToken) -> str:
        info = getattr(token, "info", None)
        return info.name if info else ""

    @admin.display(description="source", ordering="info__source")
    def token_source(self, token: AuthToken) -> str:
        info = getattr(token, "info", None)
        return info.get_source_display() if info else ""

    @admin.display(description="account", ordering="user__username")
    def owner(self, token: AuthToken) -> str:
        return admin_link(token.user, token.user.get_username())

    @admin.display(description="expired", boolean=True)
    def is_expired(self, token: AuthToken) -> bool:
        return bool(token.expiry and token.expiry < timezone.now())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "revoke" says what it does, and uses the service
        return actions

    @admin.action(description="Revoke the selected tokens", permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[AuthToken]) -> None:
        revoked = []
        for token in queryset.select_related("user"):
            try:
                api_token_revoke(actor=request.user, token_id=token.token_key)
            except DataLifecycleError as exc:
                self.message_user(request, f"{token.token_key}: {exc}", messages.ERROR)
            else:
                revoked.append(token.token_key)
        if revoked:
            self.message_user(request, f"Revoked {len(revoked)} token(s): {', '.join(revoked)}", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: AuthToken) -> None:
        api_token_revoke(actor=request.user, token_id=obj.token_key)


@admin.register(ProviderIdentity)
class ProviderIdentityAdmin(admin.ModelAdmin):
    """An account's identity at the OpenID provider, made at its first login. Read-only: a wrong
    subject would let another person in as this account."""

    list_display = ("subject", "issuer", "account", "first_login")
    list_select_related = ("user",)
    list_filter = ("issuer",)
    search_fields = ("=subject", "user__username")
    fields = ("account", "issuer", "subject", "first_login")
    readonly_fields = fields
    ordering = ("-first_login", "id")

    @admin.display(description="account", ordering="user__username")
    def account(self, identity: ProviderIdentity) -> str:
        return admin_link(identity.user, identity.user.get_username())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class RoleFilter(admin.SimpleListFilter):
    """Accounts by DLM role (the highest role group; superusers are admins)."""

    title = "DLM role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return [*((role.value, role.label) for role in Role), ("none", "No role")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == Role.ADMIN:
            return queryset.filter(Q(is_superuser=True) | Q(role_name=Role.ADMIN))
        if value in Role.values:
            return queryset.filter(role_name=value, is_superuser=False)
        if value == "none":
            return queryset.filter(role_name__isnull=True, is_superuser=False)
        return queryset


class ProviderIdentityInline(RoleAdminMixin, admin.TabularInline):
    model = ProviderIdentity
    fields = ("issuer", "subject", "first_login")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


admin.site.unregister(User)


@admin.register(User)
class AccountAdmin(UserAdmin):
    """Django's account admin, with each account's DLM role (kept as its role group: ``viewer``,
    ``operator`` or ``admin``; ``is_staff`` does not open the admin console, the admin role does)."""

    list_display = ("username", "dlm_role", "email", "first_name", "last_name", "is_active", "last_login")
    list_filter = (RoleFilter, "is_active", "is_superuser", "groups")
    readonly_fields = ("dlm_role", "account_links")
    inlines = [ProviderIdentityInline]
    fieldsets = (
        *UserAdmin.fieldsets[:2],
        (
            "Role and permissions",
            {
                "fields": ("dlm_role", "is_active", "is_staff", "is_superuser", "groups", "user_permissions"),
                "description": (
                    "The DLM role is the highest of the account's role groups (viewer, operator, admin); "
                    "a superuser is an admin. The admin console needs the admin role."
                ),
            },
        ),
        (*UserAdmin.fieldsets[3][:1], {"fields": ("last_login", "date_joined", "account_links")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(role_name=role_subquery("pk"))

    @admin.display(description="DLM role", ordering="role_name")
    def dlm_role(self, user) -> str:
        if user.is_superuser:
            return f"{Role.ADMIN.value} (superuser)"
        return getattr(user, "role_name", None) or "-"

    @admin.display(description="related")
    def account_links(self, user) -> str:
        if user.pk is None:
            return "-"
        return links(
            changelist_link(AuthToken, "API tokens", user__id__exact=user.pk),
            changelist_link(ProviderIdentity, "provider identities", user__id__exact=user.pk),
        )

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    """Roles, API tokens, authentication and OpenID login. Its tables keep the label ``dlm`` they
    were created under, so no data moves."""

    name = "accounts"
    label = "dlm"
    verbose_name = "DLM"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed, post_delete, post_save
        from knox.models import AuthToken

        from accounts import gateway  # noqa: F401  (registers /scope and the tokens API)
        from accounts.authentication import forget_tokens
        from accounts.roles import role_permission
        from core.contract import use_role_permission

        use_role_permission(role_permission)

        user_model = get_user_model()
        post_delete.connect(forget_tokens, sender=AuthToken, dispatch_uid="dlm-forget-token-delete")
        post_save.connect(forget_tokens, sender=user_model, dispatch_uid="dlm-forget-token-user")
        post_delete.connect(forget_tokens, sender=user_model, dispatch_uid="dlm-forget-token-user-delete")
        m2m_changed.connect(forget_tokens, sender=user_model.groups.through, dispatch_uid="dlm-forget-token-roles")


class DlmAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with DLM's site (``accounts.admin_site.DlmAdminSite``) as the default
    site, so that every app's registrations land on it."""

    default = False  # not the configuration of the ``accounts`` app (that is AccountsConfig)
    default_site = "accounts.admin_site.DlmAdminSite"

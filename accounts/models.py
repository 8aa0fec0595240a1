"""DLM's own account records: what an API token is called, and which provider identity an account is."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from knox.models import AuthToken


class TokenInfo(models.Model):
    """A name and origin for an API token (knox keeps only its hash, account, creation and expiry)."""

    class Source(models.TextChoices):
        COMMAND = "command"
        LOGIN = "login"  # /token_by_auth_flow
        PAGE = "page"  # the tokens page
        API = "api"
        PASSWORD = "password"  # /token_by_username_password

    token = models.OneToOneField(AuthToken, on_delete=models.CASCADE, primary_key=True, related_name="info")
    name = models.CharField(max_length=100)
    source = models.CharField(max_length=16, choices=Source.choices)

    class Meta:
        db_table = "api_token_info"

    def __str__(self) -> str:
        return self.name


class ProviderIdentity(models.Model):
    """An account's identity at the OpenID provider: matched on (issuer, sub), never on email."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    first_login = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "provider_identity"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="provider_identity_unique")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"

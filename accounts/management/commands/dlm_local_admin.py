"""``manage.py dlm_local_admin``: the laptop admin account, and a fresh API token for it."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.roles import Role
from accounts.tokens import account_ensure, api_token_create
from core.env import local_secret_file


class Command(BaseCommand):
    help = "Ensure the local 'admin' superuser exists (password kept in var/) and print a new API token."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Where the server will answer.")

    def handle(self, *args, url: str, **options) -> None:
        password = local_secret_file(settings.VAR_DIR / "admin_password", lambda: secrets.token_urlsafe(12))
        user = account_ensure(username="admin", role=Role.ADMIN)
        if not user.has_usable_password() or not user.is_superuser:
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save()
        shown = password if user.check_password(password) else "(changed since it was generated; not shown)"
        _, token = api_token_create(user=user, ttl=settings.API_TOKEN_TTL)
        self.stdout.write(
            "\n".join(
                [
                    "DLM admin account: admin",
                    f"  password: {shown}  (generated into {settings.VAR_DIR / 'admin_password'})",
                    f"  API token: {token}",
                    f"  use it as: curl -H 'Authorization: Bearer {token}' {url}/storage/query_storage",
                ]
            )
        )

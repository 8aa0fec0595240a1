"""``manage.py create_api_token USERNAME [--role R] [--days N]``: print a fresh API token."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.roles import Role
from accounts.tokens import account_ensure, api_token_create
from core.actor import acting_command


class Command(BaseCommand):
    help = "Create the account if needed, optionally set its role, and print a new API token (last line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=Role.values, help="Make this the account's role.")
        parser.add_argument(
            "--days",
            type=int,
            default=settings.API_TOKEN_TTL.days,
            help="Days until the token expires (default: DLM_API_TOKEN_TTL_DAYS).",
        )

    def handle(self, *args, username: str, role: str | None, days: int, **options) -> None:
        if days < 1:
            self.stderr.write("--days must be at least 1")
            raise SystemExit(2)
        with acting_command("create_api_token"), transaction.atomic():
            user = account_ensure(username=username, role=Role(role) if role else None)
            token_row, token = api_token_create(user=user, ttl=timedelta(days=days))
        self.stderr.write(f"API token for {user.get_username()}, valid until {token_row.expiry:%Y-%m-%d %H:%M} UTC:")
        self.stdout.write(token)

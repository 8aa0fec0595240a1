"""``manage.py dlm_bootstrap``: load LOCATION_CONFIG and STORAGE_CONFIG (idempotent)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalogue.services.bootstrap import BootstrapError, catalogue_bootstrap


class Command(BaseCommand):
    help = "Create the locations and storages named in LOCATION_CONFIG / STORAGE_CONFIG that do not exist yet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--locations", type=Path, default=settings.LOCATION_CONFIG)
        parser.add_argument("--storages", type=Path, default=settings.STORAGE_CONFIG)

    def handle(self, *args, locations: Path | None, storages: Path | None, **options) -> None:
        try:
            # call_command(locations="...") passes text: argparse's type=Path only sees the command line.
            created = catalogue_bootstrap(
                location_file=Path(locations) if locations else None,
                storage_file=Path(storages) if storages else None,
            )
        except BootstrapError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"bootstrap: {created['locations']} location(s), {created['storages']} storage(s), "
            f"{created['configs']} config(s) created"
        )

"""``manage.py lifecycle``: run the lifecycle pass now, once or every DLM_LIFECYCLE_INTERVAL seconds."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lifecycle.engine import lifecycle_pass
from lifecycle.report import PassReport


class Command(BaseCommand):
    help = (
        "Run the lifecycle pass: object expiry, copy expiry, target phases, placement rules. "
        "With --dry-run nothing is changed: the pass says what it would do, and why."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass, then stop (else one every interval).")
        parser.add_argument("--dry-run", action="store_true", help="Decide, change nothing, list the decisions.")
        parser.add_argument("--json", action="store_true", help="The report as JSON.")
        parser.add_argument("--batch", type=int, default=None, help="Objects decided per transaction.")

    def handle(self, *args, once: bool, dry_run: bool, json: bool, batch: int | None, **options) -> None:
        while True:
            report = lifecycle_pass(dry_run=dry_run, batch=batch)
            self._show(report, as_json=json)
            if report.state == "failed":
                raise CommandError(report.error)
            if once or dry_run:
                return
            time.sleep(settings.DLM_LIFECYCLE_INTERVAL)

    def _show(self, report: PassReport, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "pass_id": report.pass_id,
                        "state": report.state,
                        "dry_run": report.dry_run,
                        "duration": report.duration,
                        "counts": report.counts_dict(),
                        "decisions": [decision.as_dict() for decision in report.decisions],
                        "error": report.error,
                    },
                    indent=2,
                )
            )
            return
        what = "Dry run" if report.dry_run else "Pass"
        self.stdout.write(f"{what} {report.pass_id or ''} {report.state} in {report.duration:.3f} s")
        if report.error:
            self.stdout.write(f"  {report.error}")
        for step, counts in report.counts_dict().items():
            self.stdout.write(f"  {step}: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
        verb = {"delete": "would delete", "copy": "would copy", "cancel": "would cancel"} if report.dry_run else {}
        for decision in report.decisions:
            where = decision.storage + (f" -> {decision.destination}" if decision.destination else "")
            self.stdout.write(
                f"  [{decision.step}] {verb.get(decision.action, decision.action)} "
                f"{decision.item_name or decision.oid} {decision.uid} {where}: {decision.reason}"
            )

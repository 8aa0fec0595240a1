"""``manage.py relay --once``: one relay pass (the workers normally run the relay), or, without
``--once``, passes until nothing is pending; prints what was done."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from events.relay import relay_once


class Command(BaseCommand):
    help = "Publish the outbox's pending events to RabbitMQ (DLM_AMQP_URL) and print the counts."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="one pass (one batch) only")
        parser.add_argument("--batch", type=int, default=None, help="events per pass (DLM_OUTBOX_BATCH)")

    def handle(self, *args: Any, once: bool = False, batch: int | None = None, **options: Any) -> None:
        if batch is not None and batch < 1:
            from django.core.management.base import CommandError

            raise CommandError("--batch must be at least 1")
        totals = {"claimed": 0, "sent": 0, "failed": 0, "dead": 0, "deleted": 0}
        while True:
            counts = relay_once(batch=batch)
            for key, value in counts.items():
                totals[key] += value
            if once or not counts["claimed"] or counts["failed"]:
                break
        self.stdout.write(" ".join(f"{key}={value}" for key, value in totals.items()))

"""Webhook deliveries to a real HTTP receiver on loopback: signed bodies, retries with backoff, a
delivery log, and a failing receiver that delays no other."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from core.events import MIGRATION_UPDATE, emit
from events.models import Delivery, DeliveryState
from events.relay import relay_once
from events.webhooks import deliveries_retry, deliveries_send_once, webhook_create
from migrations_app.services import copy_job_create
from tests.lifecycle.helpers import local_place, register, run_jobs

pytestmark = pytest.mark.django_db

SECRET = "wh-s3cret-value"


class Receiver:
    """An HTTP server in a thread that checks each POST's signature with ``secret`` and records
    (time, body, headers, verified); answers ``status`` (or hangs ``delay`` seconds first)."""

    def __init__(self, secret: str, status: int = 200, delay: float = 0.0) -> None:
        self.secret, self.status, self.delay = secret, status, delay
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-DLM-Timestamp"]
                expected = hmac.new(receiver.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
                receiver.received.append(
                    {
                        "at": time.monotonic(),
                        "body": json.loads(body),
                        "headers": dict(self.headers),
                        "verified": hmac.compare_digest("sha256=" + expected, self.headers["X-DLM-Signature"]),
                    }
                )
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"nope" if receiver.status >= 300 else b"okay")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(secret: str = SECRET, status: int = 200, delay: float = 0.0) -> Receiver:
        made.append(Receiver(secret, status, delay))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def _due_now() -> None:
    Delivery.objects.filter(state=DeliveryState.PENDING).update(next_attempt_at=timezone.now())


def test_a_copy_jobs_migration_updates_reach_the_receiver_signed(tmp_path, settings, receiver):
    settings.DLM_AMQP_URL = ""
    good = receiver()
    webhook_create(fields={"name": "pipeline", "url": good.url, "event_types": [MIGRATION_UPDATE], "secret": SECRET})
    source, archive = local_place(tmp_path, "disk", "GAS"), local_place(tmp_path, "archive", "SOLID")
    item = register(source, "eb-001/vis.fits", b"visibilities")
    job = copy_job_create(user="alice", uid=item.uid, destination_name=archive.storage.storage_name)
    run_jobs()
    assert relay_once()["sent"] >= 2
    counts = deliveries_send_once()
    assert counts["delivered"] == counts["claimed"] >= 2 and counts["failed"] == 0
    bodies = [r["body"] for r in good.received]
    assert all(r["verified"] for r in good.received)
    assert {b["type"] for b in bodies} == {MIGRATION_UPDATE}
    assert bodies[-1]["payload"]["migration_id"] == job.migration_id
    assert bodies[-1]["payload"]["state"] == "completed" and bodies[-1]["payload"]["oid"] == str(item.oid)
    assert bodies[0]["payload"]["state"] == "running"  # in event order
    headers = good.received[-1]["headers"]
    assert headers["X-DLM-Event"] == MIGRATION_UPDATE and headers["Content-Type"] == "application/json"
    delivery = Delivery.objects.get(id=int(headers["X-DLM-Delivery"]))
    assert delivery.event_id == bodies[-1]["id"] and delivery.state == DeliveryState.DELIVERED
    assert delivery.last_status == 200 and delivery.attempts == 0 and delivery.delivered_at is not None
    assert deliveries_send_once()["claimed"] == 0  # delivered once


def test_only_enabled_subscriptions_of_the_type_get_deliveries(settings, receiver):
    settings.DLM_AMQP_URL = ""
    url = receiver().url
    webhook_create(fields={"name": "all", "url": url, "event_types": [], "secret": SECRET})
    webhook_create(fields={"name": "off", "url": url, "event_types": [], "secret": SECRET, "enabled": False})
    webhook_create(fields={"name": "migrations", "url": url, "event_types": [MIGRATION_UPDATE], "secret": SECRET})
    emit("dlm.test.thing", subjects={}, payload={"n": 1})
    emit(MIGRATION_UPDATE, subjects={}, payload={"n": 2})
    relay_once()
    got = sorted(Delivery.objects.values_list("subscription__name", "event_type"))
    assert got == [("all", MIGRATION_UPDATE), ("all", "dlm.test.thing"), ("migrations", MIGRATION_UPDATE)]


@pytest.mark.parametrize("failure", ["http-500", "closed-port"])
def test_a_failing_receiver_is_retried_with_backoff_logged_then_failed(settings, receiver, failure, caplog):
    settings.DLM_AMQP_URL = ""
    settings.DLM_WEBHOOK_RETRY_DELAY = 10
    settings.DLM_WEBHOOK_MAX_ATTEMPTS = 3
    url = receiver(status=500).url if failure == "http-500" else _closed_port_url()
    webhook_create(fields={"name": "broken", "url": url, "event_types": [], "secret": SECRET})
    emit(MIGRATION_UPDATE, subjects={}, payload={"n": 1})
    relay_once()
    assert deliveries_send_once()["failed"] == 1
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
    if failure == "http-500":
        assert delivery.last_status == 500 and delivery.last_error.startswith("HTTP 500")
    else:
        assert delivery.last_status is None and "ConnectionError" in delivery.last_error
    assert timedelta(seconds=9) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=10)
    assert deliveries_send_once()["claimed"] == 0  # not due yet
    _due_now()
    deliveries_send_once()
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.next_attempt_at - timezone.now() > timedelta(seconds=19)  # doubled
    _due_now()
    assert deliveries_send_once()["dead"] == 1
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED and delivery.attempts == 3 and delivery.next_attempt_at is None
    assert "failed after 3 attempts" in caplog.text and SECRET not in caplog.text
    assert deliveries_send_once()["claimed"] == 0  # failed: left alone, and shown
    assert deliveries_retry(ids=[delivery.id]) == 1
    assert Delivery.objects.get().state == DeliveryState.PENDING


def test_a_hanging_receiver_does_not_delay_another_subscriptions_deliveries(settings, receiver):
    settings.DLM_AMQP_URL = ""
    settings.DLM_WEBHOOK_TIMEOUT = 3
    slow, good = receiver(delay=5), receiver()
    webhook_create(fields={"name": "a-slow", "url": slow.url, "event_types": [], "secret": SECRET})
    webhook_create(fields={"name": "b-good", "url": good.url, "event_types": [], "secret": SECRET})
    for n in range(3):
        emit(MIGRATION_UPDATE, subjects={}, payload={"n": n})
    relay_once()
    began = time.monotonic()
    counts = deliveries_send_once()
    assert counts == {"claimed": 6, "delivered": 3, "failed": 1, "dead": 0, "deferred": 2}
    assert [r["body"]["payload"]["n"] for r in good.received] == [0, 1, 2]
    assert good.received[-1]["at"] - began < 2  # not behind the slow one's 3 s timeout
    slow_rows = Delivery.objects.filter(subscription__name="a-slow").order_by("id")
    assert [d.state for d in slow_rows] == [DeliveryState.PENDING] * 3
    assert [d.attempts for d in slow_rows] == [1, 0, 0] and "Timeout" in slow_rows[0].last_error
    assert all(d.next_attempt_at > timezone.now() for d in slow_rows)  # all wait with the first

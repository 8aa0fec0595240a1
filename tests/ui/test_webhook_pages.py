"""The webhooks' pages: admins only; the list and create form; a subscription's delivery log."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from accounts.tokens import account_ensure
from core.events import MIGRATION_UPDATE
from events.models import Delivery, DeliveryState, Subscription
from events.webhooks import webhook_create

pytestmark = pytest.mark.django_db
SECRET = "ui-wh-s3cret"


def _browser(role: Role) -> Client:
    client = Client()
    client.force_login(account_ensure(username=f"{role.value}-wh", role=role))
    return client


def test_viewers_and_operators_are_refused():
    for role in (Role.VIEWER, Role.OPERATOR):
        assert _browser(role).get("/webhooks").status_code == 403


def test_an_admin_creates_a_webhook_and_a_bad_url_is_shown_on_its_field():
    admin = _browser(Role.ADMIN)
    bad = admin.post("/webhooks", {"name": "x", "url": "ftp://h/x", "event_types": "", "secret": SECRET})
    assert bad.status_code == 422 and "http:// or https://" in bad.content.decode()
    assert not Subscription.objects.exists()
    made = admin.post("/webhooks", {"name": "pipe", "url": "https://h/x", "event_types": MIGRATION_UPDATE,
                                    "secret": SECRET})  # fmt: skip
    assert made.status_code == 302 and made["Location"] == "/webhooks/hook/pipe"
    assert Subscription.objects.get().event_types == [MIGRATION_UPDATE]
    page = admin.get("/webhooks").content.decode()
    assert "pipe" in page and SECRET not in page


def test_the_delivery_log_shows_state_attempts_status_and_error_paged():
    sub = webhook_create(fields={"name": "pipe", "url": "https://h/x", "event_types": [], "secret": SECRET})
    now = timezone.now()
    for n in range(55):
        Delivery.objects.create(subscription=sub, event_id=n, event_type=MIGRATION_UPDATE, event_created_at=now,
                                state=DeliveryState.DELIVERED, last_status=200)  # fmt: skip
    Delivery.objects.create(subscription=sub, event_id=99, event_type=MIGRATION_UPDATE, event_created_at=now,
                            state=DeliveryState.FAILED, attempts=8, last_status=503,
                            last_error="HTTP 503: down for maintenance")  # fmt: skip
    admin = _browser(Role.ADMIN)
    first = admin.get("/webhooks/hook/pipe").content.decode()
    assert first.count('class="delivery"') == 50 and "HTTP 503: down for maintenance" in first and "503" in first
    assert "Failed (gave up)" in first and SECRET not in first
    second = admin.get("/webhooks/hook/pipe", {"page": 2}).content.decode()
    assert second.count('class="delivery"') == 6
    failed = admin.get("/webhooks/hook/pipe", {"state": "failed"}).content.decode()
    assert failed.count('class="delivery"') == 1
    assert admin.get("/webhooks/hook/nobody").status_code == 404


def test_an_admin_changes_a_webhook_keeping_its_secret_and_a_bad_url_is_refused_on_its_field():
    webhook_create(fields={"name": "pipe", "url": "https://h/x", "event_types": [], "secret": SECRET})
    admin = _browser(Role.ADMIN)
    page = admin.get("/webhooks/hook/pipe").content.decode()
    assert 'value="https://h/x"' in page and SECRET not in page

    bad = admin.post("/webhooks/hook/pipe", {"action": "update", "url": "ftp://h/y", "event_types": ""})
    assert bad.status_code == 422 and "http:// or https://" in bad.content.decode()
    assert Subscription.objects.get().url == "https://h/x"  # nothing half-written

    saved = admin.post("/webhooks/hook/pipe", {"action": "update", "url": "https://h/y",
                                                "event_types": f"{MIGRATION_UPDATE}, dlm.item.ready"})  # fmt: skip
    assert saved.status_code == 302
    sub = Subscription.objects.get()
    assert sub.url == "https://h/y" and sub.event_types == sorted([MIGRATION_UPDATE, "dlm.item.ready"])
    assert sub.enabled is False  # the box was left unticked
    assert sub.secret == SECRET  # an empty secret keeps the stored one

    unknown = admin.post("/webhooks/hook/pipe", {"action": "update", "url": "https://h/y", "event_types": "dlm.nope"})
    assert unknown.status_code == 422 and "dlm.nope" in unknown.content.decode()


def test_an_admin_sends_failed_deliveries_again_and_removes_a_webhook_after_confirming():
    sub = webhook_create(fields={"name": "pipe", "url": "https://h/x", "event_types": [], "secret": SECRET})
    now = timezone.now()
    for n in range(3):
        Delivery.objects.create(subscription=sub, event_id=n, event_type=MIGRATION_UPDATE, event_created_at=now,
                                state=DeliveryState.FAILED, attempts=8, last_error="HTTP 503")  # fmt: skip
    Delivery.objects.create(subscription=sub, event_id=9, event_type=MIGRATION_UPDATE, event_created_at=now,
                            state=DeliveryState.DELIVERED, attempts=1)  # fmt: skip
    admin = _browser(Role.ADMIN)
    assert "Send the 3 failed deliveries again" in admin.get("/webhooks/hook/pipe").content.decode()

    retried = admin.post("/webhooks/hook/pipe", {"action": "retry"}, follow=True)
    assert "3 failed deliveries queued again." in retried.content.decode()
    states = sorted(Delivery.objects.values_list("state", "attempts"))
    assert states == [("delivered", 1), ("pending", 0), ("pending", 0), ("pending", 0)]

    unconfirmed = admin.post("/webhooks/hook/pipe", {"action": "delete"})
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.content.decode()
    assert Subscription.objects.exists()
    removed = admin.post("/webhooks/hook/pipe", {"action": "delete", "confirm": "on"})
    assert removed.status_code == 302 and removed["Location"] == "/webhooks"
    assert not Subscription.objects.exists() and not Delivery.objects.exists()

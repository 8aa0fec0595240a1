"""The webhooks' API: create, query, update, delete and the delivery log; refusals name their
field; the secret never comes back, nor reaches the audit trail."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditRecord
from core.events import MIGRATION_UPDATE
from events.models import Delivery, DeliveryState, Subscription
from events.webhooks import webhook_create

pytestmark = pytest.mark.django_db

SECRET = "wh-api-s3cret"
HOOK = {"name": "pipeline", "url": "https://example.org/hook", "event_types": [MIGRATION_UPDATE], "secret": SECRET}


def test_create_query_update_delete_never_show_the_secret(api):
    made = api.post("/webhooks/create_webhook", body=HOOK)
    assert made.status_code == 200, made.content
    assert made.json()["secret"] == "***" and made.json()["created_by"] == "admin-user"
    assert Subscription.objects.get().secret == SECRET  # stored (encrypted), usable
    listed = api.get("/webhooks/query_webhooks")
    assert listed.status_code == 200 and [w["name"] for w in listed.json()] == ["pipeline"]
    changed = api.patch("/webhooks/update_webhook", {"name": "pipeline"}, body={"enabled": False, "secret": "new-s3"})
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert Subscription.objects.get().secret == "new-s3"
    for answer in (made, listed, changed):
        assert SECRET not in answer.content.decode() and "new-s3" not in answer.content.decode()
    trail = [r.changes for r in AuditRecord.objects.filter(object_type="webhook")]
    assert len(trail) == 2 and SECRET not in str(trail) and "new-s3" not in str(trail) and "***" in str(trail)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM events_subscription")
        [(stored,)] = cursor.fetchall()
    assert "new-s3" not in stored
    assert api.call("DELETE", "/webhooks/delete_webhook", {"name": "pipeline"}).json() is True
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    "key,value",
    [("url", "ftp://example.org/x"), ("url", "not a url"), ("event_types", ["dlm.no.such"]), ("secret", ""),
     ("enabled", "yes"), ("colour", "red")],
)  # fmt: skip
def test_bad_input_is_a_422_naming_the_key(api, key, value):
    answer = api.post("/webhooks/create_webhook", body={**HOOK, key: value})
    assert answer.status_code == 422, answer.content
    assert any(d["loc"][-1] == key for d in answer.json()["detail"]), answer.json()
    assert not Subscription.objects.exists()


def test_a_missing_secret_and_a_taken_name_are_refused(api):
    answer = api.post("/webhooks/create_webhook", body={k: v for k, v in HOOK.items() if k != "secret"})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][-1] == "secret"
    assert api.post("/webhooks/create_webhook", body=HOOK).status_code == 200
    again = api.post("/webhooks/create_webhook", body=HOOK)
    assert again.status_code == 409 or again.status_code == 422
    assert "exists already" in again.content.decode() and SECRET not in again.content.decode()
    missing = api.patch("/webhooks/update_webhook", {"name": "nobody"}, body={"enabled": False})
    assert missing.status_code == 404


def test_query_deliveries_shows_the_log_by_state(api):
    api.post("/webhooks/create_webhook", body=HOOK)
    sub = Subscription.objects.get()
    common = {"subscription": sub, "event_type": MIGRATION_UPDATE, "event_created_at": sub.created_at}
    Delivery.objects.create(event_id=1, state=DeliveryState.DELIVERED, last_status=200, **common)
    Delivery.objects.create(event_id=2, state=DeliveryState.FAILED, attempts=8, last_status=500,
                            last_error="HTTP 500: nope", **common)  # fmt: skip
    every = api.get("/webhooks/query_deliveries", {"name": "pipeline"}).json()
    assert [d["event_id"] for d in every] == [2, 1]
    failed = api.get("/webhooks/query_deliveries", {"name": "pipeline", "state": "failed"}).json()
    assert [(d["event_id"], d["attempts"], d["last_status"], d["last_error"]) for d in failed] == [
        (2, 8, 500, "HTTP 500: nope")
    ]
    assert api.get("/webhooks/query_deliveries", {"name": "pipeline", "state": "lost"}).status_code == 422
    assert api.get("/webhooks/query_deliveries", {"name": "nobody"}).status_code == 404


def test_viewers_and_operators_may_not_see_webhooks(viewer_api, operator_api):
    for caller in (viewer_api, operator_api):
        assert caller.get("/webhooks/query_webhooks").status_code == 403


def test_the_api_sends_a_webhooks_failed_deliveries_again(api):
    sub = webhook_create(fields={"name": "pipe", "url": "https://h/x", "event_types": [], "secret": SECRET})
    Delivery.objects.create(subscription=sub, event_id=1, event_type=MIGRATION_UPDATE, event_created_at=timezone.now(),
                            state=DeliveryState.FAILED, attempts=8)  # fmt: skip
    response = api.post("/webhooks/retry_deliveries", {"name": "pipe"})
    assert response.status_code == 200 and response.json() == 1
    assert Delivery.objects.get().state == DeliveryState.PENDING
    assert api.post("/webhooks/retry_deliveries", {"name": "nobody"}).status_code == 404

"""The webhooks' operations (admins only): subscriptions and their delivery logs. A secret is
written, never read back: every answer shows it as ``***``."""

from __future__ import annotations

from typing import Any

from accounts.roles import Role
from core.contract import Body, Param, operation
from core.paging import PAGING, page
from events import webhooks
from events.models import DeliveryState, Subscription

OBJECT: dict[str, Any] = {"type": "object"}
OBJECTS: dict[str, Any] = {"type": "array", "items": {"type": "object"}}
NAME = Param("name", "str", required=True, description="The webhook's name.")
WEBHOOK_BODY = Body(
    "webhook",
    required=True,
    description=(
        "The webhook: {name, url (http or https), event_types (a list; empty: every type), secret "
        "(signs each delivery), enabled}."
    ),
)


@operation(
    "POST", "/webhooks/create_webhook", operation_id="create_webhook", role=Role.ADMIN, body=WEBHOOK_BODY,
    response=OBJECT, tag="webhooks",
)  # fmt: skip
def create_webhook(request, *, webhook) -> dict:
    """DLM extension: subscribe a URL to DLM's events; answers the subscription (secret as `***`).

    Each event of the types asked for is POSTed as JSON `{id, type, created_at, payload}` with
    the headers `X-DLM-Event`, `X-DLM-Delivery`, `X-DLM-Timestamp` and `X-DLM-Signature`
    (`sha256=` + hex HMAC-SHA256 of `<timestamp>.<body>` under the secret), retried with
    exponential backoff until the receiver answers 2xx.
    """
    user = request.user.get_username() if request.user.is_authenticated else ""
    return webhooks.webhook_json(webhooks.webhook_create(fields=webhook, user=user, body="webhook"))


@operation(
    "GET", "/webhooks/query_webhooks", operation_id="query_webhooks", role=Role.ADMIN, params=PAGING,
    response=OBJECTS, tag="webhooks",
)  # fmt: skip
def query_webhooks(request, *, limit, offset) -> list[dict]:
    """DLM extension: the webhook subscriptions, by name (secrets as `***`)."""
    rows = Subscription.objects.order_by("name")
    return [webhooks.webhook_json(row) for row in page(rows, limit=limit, offset=offset)]


@operation(
    "PATCH", "/webhooks/update_webhook", operation_id="update_webhook", role=Role.ADMIN, params=(NAME,),
    body=WEBHOOK_BODY, response=OBJECT, tag="webhooks",
)  # fmt: skip
def update_webhook(request, *, name, webhook) -> dict:
    """DLM extension: change the keys given of a webhook; answers it."""
    return webhooks.webhook_json(webhooks.webhook_update(name=name, fields=webhook, body="webhook"))


@operation(
    "DELETE", "/webhooks/delete_webhook", operation_id="delete_webhook", role=Role.ADMIN, params=(NAME,),
    response={"type": "boolean"}, tag="webhooks",
)  # fmt: skip
def delete_webhook(request, *, name) -> bool:
    """DLM extension: remove a webhook and its delivery log."""
    webhooks.webhook_delete(name=name)
    return True


@operation(
    "GET", "/webhooks/query_deliveries", operation_id="query_deliveries", role=Role.ADMIN,
    params=(NAME, Param("state", "enum", choices=DeliveryState, description="Only deliveries in this state."),
            *PAGING),
    response=OBJECTS, tag="webhooks",
)  # fmt: skip
def query_deliveries(request, *, name, state, limit, offset) -> list[dict]:
    """DLM extension: a webhook's delivery log, newest first: state, attempts, last HTTP status and error."""
    rows = webhooks.deliveries_of(subscription=webhooks.webhook_get(name=name), state=state)
    return [
        webhooks.delivery_json(row) for row in page(rows.select_related("subscription"), limit=limit, offset=offset)
    ]


@operation(
    "POST", "/webhooks/retry_deliveries", operation_id="retry_deliveries", role=Role.ADMIN, params=(NAME,),
    response={"type": "integer"}, tag="webhooks",
)  # fmt: skip
def retry_deliveries(request, *, name) -> int:
    """DLM extension: send a webhook's failed deliveries again (attempts from 0, due now); answers
    how many."""
    return webhooks.deliveries_retry(subscription=webhooks.webhook_get(name=name))

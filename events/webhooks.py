"""Webhooks: the outbox's events POSTed to subscribed receivers, each delivery retried on its own.

The relay fans each event out when it marks it sent (``deliveries_create``, in the relay's
transaction): one ``Delivery`` per enabled subscription that wants the event's type. The task
``events.tasks.webhooks_run`` (queued after that commit, and every minute by the schedule
``dlm-webhooks``) sends them (``deliveries_send_once``), never in the relay's pass: a slow or failing
receiver never holds the outbox.

A delivery is ``POST <url>`` with the JSON body ``{"id", "type", "created_at", "payload"}`` and the
headers ``X-DLM-Event`` (the type), ``X-DLM-Delivery`` (the delivery id), ``X-DLM-Timestamp`` (unix
seconds) and ``X-DLM-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``. A 2xx answer
delivers it; anything else counts an attempt and sets the next one after
``DLM_WEBHOOK_RETRY_DELAY`` seconds, doubling, at most an hour; after ``DLM_WEBHOOK_MAX_ATTEMPTS``
the delivery has failed (shown in the UI and the admin, where it can be sent again).

Each pass claims the due deliveries in a short transaction (``SKIP LOCKED`` on PostgreSQL) and
leases them, then sends outside it: each subscription's deliveries in event order in a thread of
their own (a receiver that times out delays only its own), stopping at its first failure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core import events as core_events
from core.errors import FieldError, FieldErrors, ObjectNotFound, ValueAlreadyInDB
from core.models import OutboxEvent
from core.rows import json_value
from events.models import Delivery, DeliveryState, Subscription

log = logging.getLogger("dlm.events")

TASK = "events.tasks.webhooks_run"
MAX_DELAY = 3600.0  # seconds: the longest wait between two attempts at a delivery
LEASE = timedelta(minutes=5)  # a claimed delivery is due again after this if its sender died
THREADS = 8  # subscriptions sent to at the same time
WEBHOOK_KEYS = ("name", "url", "event_types", "secret", "enabled")
MASK = "***"


# --- subscriptions ------------------------------------------------------------------------------


def event_types_known() -> list[str]:
    """The event types DLM emits (``core.events``' ``dlm.…`` constants)."""
    values = {v for k, v in vars(core_events).items() if k.isupper() and isinstance(v, str) and v.startswith("dlm.")}
    return sorted(values | set(getattr(core_events, "EVENT_TYPES", ())))


def _fields(data: dict[str, Any], body: str | None, *, creating: bool) -> dict[str, Any]:
    """A subscription's columns from its JSON form; ``FieldErrors`` naming every key refused."""
    errors: list[FieldError] = []

    def refuse(key: str, kind: str, message: str, value: Any) -> None:
        field, at = (body, (key,)) if body else (key, ())
        errors.append(FieldError(field, kind, message, MASK if key == "secret" else value, at=at))

    values: dict[str, Any] = {}
    if not isinstance(data, dict):
        raise FieldError(body or "webhook", "dict_type", "Input should be an object", None)
    for key, value in data.items():
        if key not in WEBHOOK_KEYS:
            refuse(key, "extra_forbidden", f"Unknown key '{key}' (a webhook has: {', '.join(WEBHOOK_KEYS)})", value)
        elif key in ("name", "url", "secret") and not isinstance(value, str):
            refuse(key, "string_type", "Input should be a string", value)
        elif key == "name" and not (value.strip() and len(value) <= 100):
            refuse(key, "value_error", "A webhook needs a name of 1 to 100 characters", value)
        elif key == "url" and not _url_ok(value):
            refuse(key, "value_error", "The URL must be http:// or https:// with a host", value)
        elif key == "secret" and not value:
            refuse(key, "value_error", "The secret must not be empty", value)
        elif key == "enabled" and not isinstance(value, bool):
            refuse(key, "bool_type", "Input should be true or false", value)
        elif key == "event_types":
            known = event_types_known()
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                refuse(key, "list_type", "Input should be a list of event types", value)
            elif unknown := [t for t in value if t not in known]:
                refuse(key, "value_error", f"Unknown event type(s) {unknown} (known: {', '.join(known)})", value)
            else:
                values[key] = sorted(set(value))
        else:
            values[key] = value.strip() if key == "name" else value
    if creating:
        for key in ("name", "url", "secret"):
            if key not in data:
                refuse(key, "missing", "Field required", None)
    if errors:
        raise errors[0] if len(errors) == 1 else FieldErrors(errors)
    return values


def _url_ok(url: str) -> bool:
    if len(url) > 2000:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _save(subscription: Subscription) -> Subscription:
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError:
        raise ValueAlreadyInDB(f"A webhook named {subscription.name!r} exists already", field="name") from None
    return subscription


def webhook_create(*, fields: dict[str, Any], user: str = "", body: str | None = None) -> Subscription:
    """A new subscription from its JSON form (``name``, ``url``, ``event_types`` (empty: all),
    ``secret``, ``enabled``); refusals name the key (inside ``body`` when given)."""
    values = _fields(fields, body, creating=True)
    return _save(Subscription(**values, created_by=user))


def webhook_get(*, name: str) -> Subscription:
    subscription = Subscription.objects.filter(name=name).first()
    if subscription is None:
        raise ObjectNotFound(f"No webhook named {name!r}", field="name")
    return subscription


def webhook_update(*, name: str, fields: dict[str, Any], body: str | None = None) -> Subscription:
    """Change the keys given of the subscription ``name`` (its JSON form, as for ``webhook_create``)."""
    values = _fields(fields, body, creating=False)
    with transaction.atomic():
        subscription = webhook_get(name=name)
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        for key, value in values.items():
            setattr(subscription, key, value)
        return _save(subscription)


def webhook_delete(*, name: str) -> None:
    """Remove a subscription and its delivery log."""
    with transaction.atomic():
        webhook_get(name=name).delete()


def webhook_json(subscription: Subscription) -> dict[str, Any]:
    """A subscription as the API shows it: the secret as ``***``."""
    return {
        "name": subscription.name,
        "url": subscription.url,
        "event_types": subscription.event_types,
        "secret": MASK,
        "enabled": subscription.enabled,
        "created_at": json_value(subscription.created_at),
        "created_by": subscription.created_by,
    }


def deliveries_of(*, subscription: Subscription, state: str | None = None) -> QuerySet[Delivery]:
    """A subscription's delivery log, newest first (of one state when given)."""
    rows = Delivery.objects.filter(subscription=subscription)
    return (rows.filter(state=state) if state else rows).order_by("-id")


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": delivery.id,
        "webhook": delivery.subscription.name,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "created_at": json_value(delivery.created_at),
        "last_attempt_at": json_value(delivery.last_attempt_at),
        "next_attempt_at": json_value(delivery.next_attempt_at),
        "delivered_at": json_value(delivery.delivered_at),
    }


def deliveries_retry(*, ids: list[int] | None = None, subscription: Subscription | None = None) -> int:
    """Make failed deliveries pending again, due now, with their attempts from 0: those of ``ids``,
    or every failed one of ``subscription``; how many. Their sending is queued at once."""
    rows = Delivery.objects.filter(state=DeliveryState.FAILED)
    if ids is not None:
        rows = rows.filter(id__in=ids)
    if subscription is not None:
        rows = rows.filter(subscription=subscription)
    count = rows.update(state=DeliveryState.PENDING, attempts=0, next_attempt_at=None, last_error="")
    if count:
        transaction.on_commit(send_soon)
    return count


# --- fan-out and sending ------------------------------------------------------------------------


def deliveries_create(events: list[OutboxEvent]) -> int:
    """One pending delivery per event and enabled subscription that wants its type, in the
    caller's transaction; a send is queued once it commits. How many."""
    if not events:
        return 0
    subscriptions = list(Subscription.objects.filter(enabled=True).defer("secret"))
    rows = [
        Delivery(
            subscription=s, event_id=e.id, event_type=e.event_type, event_created_at=e.created_at, payload=e.payload
        )
        for e in events
        for s in subscriptions
        if s.wants(e.event_type)
    ]
    Delivery.objects.bulk_create(rows, batch_size=500)
    if rows:
        transaction.on_commit(send_soon)
    return len(rows)


def send_soon() -> None:
    """Queue a webhooks run (a worker sends the deliveries)."""
    from django_q.tasks import async_task

    async_task(TASK, task_name="webhooks", save=False)


def retry_delay(attempts: int) -> timedelta:
    """How long a delivery waits after its ``attempts``-th failure."""
    return timedelta(seconds=min(settings.DLM_WEBHOOK_RETRY_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-DLM-Signature``: ``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>`` under the secret."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass
class _Outcome:
    delivery_id: int
    ok: bool
    status: int | None = None
    error: str = ""


def _post(subscription: Subscription, delivery: Delivery) -> _Outcome:
    body = json.dumps(
        {
            "id": delivery.event_id,
            "type": delivery.event_type,
            "created_at": delivery.event_created_at,
            "payload": delivery.payload,
        },
        cls=DjangoJSONEncoder,
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "DLM-webhooks",
        "X-DLM-Event": delivery.event_type,
        "X-DLM-Delivery": str(delivery.id),
        "X-DLM-Timestamp": timestamp,
        "X-DLM-Signature": signature(subscription.secret, timestamp, body),
    }
    try:
        response = requests.post(
            subscription.url, data=body, headers=headers, timeout=settings.DLM_WEBHOOK_TIMEOUT, allow_redirects=False
        )
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}".replace(subscription.secret, MASK)
        return _Outcome(delivery.id, False, None, error[:2000])
    if 200 <= response.status_code < 300:
        return _Outcome(delivery.id, True, response.status_code)
    text = response.text[:300].replace(subscription.secret, MASK)
    return _Outcome(delivery.id, False, response.status_code, f"HTTP {response.status_code}: {text}".strip())


def _send_all(subscription: Subscription, deliveries: list[Delivery]) -> list[_Outcome]:
    """One subscription's deliveries in order, until the first failure (the rest wait their lease)."""
    outcomes = []
    for delivery in deliveries:
        outcome = _post(subscription, delivery)
        outcomes.append(outcome)
        if not outcome.ok:
            break
    return outcomes


def _claim(batch: int) -> list[Delivery]:
    with transaction.atomic():
        now = timezone.now()
        rows = Delivery.objects.filter(state=DeliveryState.PENDING).filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        )
        rows = rows.order_by("id")
        if connection.vendor == "postgresql":
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        claimed = list(rows[:batch])
        if claimed:
            Delivery.objects.filter(id__in=[d.id for d in claimed]).update(next_attempt_at=now + LEASE)
    return claimed


def deliveries_send_once(*, batch: int = 100) -> dict[str, int]:
    """One pass: claim up to ``batch`` due deliveries and POST them. Counts: ``claimed``,
    ``delivered``, ``failed`` (an attempt failed), ``dead`` (given up), ``deferred`` (not tried:
    an earlier delivery to the same receiver failed in this pass)."""
    counts = {"claimed": 0, "delivered": 0, "failed": 0, "dead": 0, "deferred": 0}
    claimed = _claim(batch)
    counts["claimed"] = len(claimed)
    if not claimed:
        return counts
    by_subscription: dict[int, list[Delivery]] = defaultdict(list)
    for delivery in claimed:
        by_subscription[delivery.subscription_id].append(delivery)
    subscriptions = Subscription.objects.in_bulk(list(by_subscription))
    with ThreadPoolExecutor(max_workers=min(THREADS, len(by_subscription))) as pool:
        results = pool.map(lambda sid: _send_all(subscriptions[sid], by_subscription[sid]), list(by_subscription))
        outcomes = [outcome for group in results for outcome in group]
    _record(claimed, outcomes, subscriptions, counts)
    return counts


def _record(claimed: list[Delivery], outcomes: list[_Outcome], subscriptions: dict, counts: dict[str, int]) -> None:
    now = timezone.now()
    by_id = {d.id: d for d in claimed}
    tried = {o.delivery_id for o in outcomes}
    by_status: dict[int | None, list[int]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.ok:
            by_status[outcome.status].append(outcome.delivery_id)
    for status, ids in by_status.items():
        Delivery.objects.filter(id__in=ids).update(
            state=DeliveryState.DELIVERED, delivered_at=now, last_attempt_at=now, next_attempt_at=None,
            last_status=status, last_error="",
        )  # fmt: skip
        counts["delivered"] += len(ids)
    for outcome in outcomes:
        if outcome.ok:
            continue
        delivery = by_id[outcome.delivery_id]
        attempts = delivery.attempts + 1
        fields: dict[str, Any] = {
            "attempts": attempts, "last_attempt_at": now, "last_status": outcome.status, "last_error": outcome.error,
        }  # fmt: skip
        name = subscriptions[delivery.subscription_id].name
        if attempts >= settings.DLM_WEBHOOK_MAX_ATTEMPTS:
            fields.update(state=DeliveryState.FAILED, next_attempt_at=None)
            counts["dead"] += 1
            log.error(
                "webhook %s: delivery %s failed after %s attempts: %s", name, delivery.id, attempts, outcome.error
            )
        else:
            fields["next_attempt_at"] = now + retry_delay(attempts)
            log.warning("webhook %s: delivery %s attempt %s failed: %s", name, delivery.id, attempts, outcome.error)
        Delivery.objects.filter(id=delivery.id).update(**fields)
        counts["failed"] += 1
    untried = [d.id for d in claimed if d.id not in tried]
    if untried:  # behind a failure to the same receiver: due again with it, no attempt counted
        failed_next = {
            by_id[o.delivery_id].subscription_id: now + retry_delay(by_id[o.delivery_id].attempts + 1)
            for o in outcomes
            if not o.ok
        }
        for delivery_id in untried:
            delivery = by_id[delivery_id]
            Delivery.objects.filter(id=delivery_id).update(next_attempt_at=failed_next.get(delivery.subscription_id))
        counts["deferred"] = len(untried)

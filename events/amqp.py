"""Publishing to RabbitMQ as upstream's relay does (semantics §7): a durable topic exchange
(``DLM_AMQP_EXCHANGE``, default ``dlm.outbox``), routing key = the event type, persistent JSON
messages with the headers ``outbox_id``, ``event_type`` and ``created_at``, under publisher
confirms: ``publish`` returns only once the broker has the message.

One connection per process, opened on first use and dropped on any failure; the next relay pass
opens a new one, so a restarted broker is picked up again. The URL's password never appears in a
log line or an error.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import datetime
from typing import Any

import pika
from django.conf import settings

log = logging.getLogger("dlm.events")


class PublishError(Exception):
    """The broker could not be reached or did not confirm a message (the text has no secret)."""


def mask_url(text: str, url: str) -> str:
    """``text`` with the URL's password (and any ``user:password@``) replaced by ``***``."""
    try:
        password = pika.URLParameters(url).credentials.password if url else ""
    except Exception:  # noqa: BLE001  (an unparsable URL: mask what looks like a password)
        password = ""
    if password:
        text = text.replace(password, "***")
    return re.sub(r"(amqps?://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


class Publisher:
    """A confirmed channel to one exchange on one broker."""

    def __init__(self, url: str, exchange: str) -> None:
        self.url = url
        self.exchange = exchange
        self._connection: pika.BlockingConnection | None = None
        self._channel: Any = None

    def _open(self) -> Any:
        if self._channel is not None and self._channel.is_open and self._connection.is_open:
            return self._channel
        self.close()
        params = pika.URLParameters(self.url)
        params.connection_attempts = 1
        params.socket_timeout = params.socket_timeout or 5
        params.blocked_connection_timeout = 30
        self._connection = pika.BlockingConnection(params)
        channel = self._connection.channel()
        channel.exchange_declare(exchange=self.exchange, exchange_type="topic", durable=True)
        channel.confirm_delivery()
        self._channel = channel
        return channel

    def publish(self, *, outbox_id: int, event_type: str, created_at: datetime, payload: dict[str, Any]) -> None:
        """Send one event and wait for the broker's confirm; ``PublishError`` when it is not had."""
        try:
            channel = self._open()
            channel.basic_publish(
                exchange=self.exchange,
                routing_key=event_type,
                body=json.dumps(payload).encode(),
                properties=pika.BasicProperties(
                    content_type="application/json",
                    delivery_mode=pika.DeliveryMode.Persistent,
                    headers={"outbox_id": outbox_id, "event_type": event_type, "created_at": created_at.isoformat()},
                ),
                mandatory=False,
            )
        except Exception as exc:  # noqa: BLE001  (any broker failure: the connection is dropped)
            self.close()
            reason = f"{type(exc).__name__}: {exc}".strip().rstrip(":") or type(exc).__name__
            raise PublishError(mask_url(f"RabbitMQ publish failed: {reason}", self.url)) from None

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001, S110  (already gone)
                pass


_local = threading.local()


def publisher() -> Publisher | None:
    """This thread's publisher for the configured broker and exchange; None when AMQP is off."""
    url, exchange = settings.DLM_AMQP_URL, settings.DLM_AMQP_EXCHANGE
    if not url:
        return None
    current: Publisher | None = getattr(_local, "publisher", None)
    if current is None or current.url != url or current.exchange != exchange:
        if current is not None:
            current.close()
        current = _local.publisher = Publisher(url, exchange)
    return current

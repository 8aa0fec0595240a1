"""Publishing to RabbitMQ as upstream's relay does (semantics §7): a durable topic exchange
(``DLM_AMQP_EXCHANGE``, default ``dlm.outbox``), routing key = the event type, persistent JSON
messages with the headers ``outbox_id``, ``event_type`` and ``created_at``, under publisher
confirms: an event counts as published only once the broker has confirmed it.

One connection per process, opened on first use and dropped on any failure; the next relay pass
opens a new one, so a restarted broker is picked up again. The URL's password never appears in a
log line or an error.
"""

from __future__ import annotations

import json
import logging
import re
import threading
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


OPEN_TIMEOUT = 10.0  # seconds for the connection, the exchange and confirm mode
CONFIRM_TIMEOUT = 30.0  # seconds for the broker to confirm a batch


class Publisher:
    """A confirmed channel to one exchange on one broker.

    ``publish_many`` sends a batch without waiting between messages and then waits for the
    broker's confirms of all of them (one round trip a batch, not one a message): a message
    counts as published only once confirmed. The connection is pika's ``SelectConnection``, run
    only while this object waits; any failure drops it and the next batch opens a new one.
    """

    def __init__(self, url: str, exchange: str) -> None:
        self.url = url
        self.exchange = exchange
        self._connection: pika.SelectConnection | None = None
        self._channel: Any = None
        self._ready = False
        self._failure = ""
        self._tag = 0  # the channel's last delivery tag
        self._unconfirmed: dict[int, int] = {}  # delivery tag -> outbox id, in tag order
        self._confirmed: list[int] = []
        self._refused: list[int] = []
        self._wake: Any = None

    # -- waiting on the connection's loop

    def _wait(self, done: Any, timeout: float, what: str) -> None:
        """Run the connection's loop until ``done()``; ``PublishError`` on a failure or time-out."""
        loop = self._connection.ioloop
        expired: list[bool] = []

        def expire() -> None:
            expired.append(True)
            loop.stop()

        timer = loop.call_later(timeout, expire)
        self._wake = loop.stop
        try:
            while not (done() or self._failure or expired):
                loop.start()
        finally:
            self._wake = None
            loop.remove_timeout(timer)
        if self._failure:
            raise PublishError(mask_url(f"RabbitMQ publish failed: {self._failure}", self.url))
        if not done():
            raise PublishError(f"RabbitMQ publish failed: no answer within {timeout:g} s ({what})")

    def _woken(self) -> None:
        if self._wake is not None:
            self._wake()

    def _fail(self, reason: Any) -> None:
        if not self._failure:
            self._failure = str(reason).strip() or type(reason).__name__
        self._woken()

    # -- opening: connection, channel, exchange, confirm mode

    def _open(self) -> Any:
        if self._ready and self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        self._failure, self._tag = "", 0
        params = pika.URLParameters(self.url)
        params.connection_attempts = 1
        params.socket_timeout = params.socket_timeout or 5
        params.blocked_connection_timeout = 30
        self._connection = pika.SelectConnection(
            params,
            on_open_callback=lambda connection: connection.channel(on_open_callback=self._on_channel),
            on_open_error_callback=lambda _connection, error: self._fail(f"cannot connect: {error!r}"),
            on_close_callback=lambda _connection, reason: self._fail(f"the connection closed: {reason!r}"),
        )
        try:
            self._wait(lambda: self._ready, OPEN_TIMEOUT, "opening the connection")
        except PublishError:
            self.close()
            raise
        return self._channel

    def _on_channel(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_close_callback(lambda _channel, reason: self._fail(f"the channel closed: {reason!r}"))
        channel.exchange_declare(
            exchange=self.exchange, exchange_type="topic", durable=True, callback=self._on_declared
        )

    def _on_declared(self, _frame: Any) -> None:
        self._channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_confirming)

    def _on_confirming(self, _frame: Any) -> None:
        self._ready = True
        self._woken()

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        refused = isinstance(method, pika.spec.Basic.Nack)
        tags = [method.delivery_tag]
        if method.multiple:
            tags = []
            for tag in self._unconfirmed:  # in tag order
                if tag > method.delivery_tag:
                    break
                tags.append(tag)
        for tag in tags:
            outbox_id = self._unconfirmed.pop(tag, None)
            if outbox_id is not None:
                (self._refused if refused else self._confirmed).append(outbox_id)
        if not self._unconfirmed:
            self._woken()

    # -- publishing

    def publish_many(self, events: list[Any]) -> tuple[set[int], str]:
        """Publish ``events`` (outbox rows: ``id``, ``event_type``, ``created_at``, ``payload``);
        the ids the broker confirmed, and why the others were not (empty when none failed).

        A connection kept from an earlier batch may have died unseen meanwhile (a broker restarted
        between two passes): when it fails, the unconfirmed events are sent once more at once, on
        a new connection, before anything counts as failed."""
        reused = self._ready and self._channel is not None and self._channel.is_open
        confirmed, error = self._publish(events)
        if error and reused:
            more, error = self._publish([event for event in events if event.id not in confirmed])
            confirmed |= more
        return confirmed, error

    def _publish(self, events: list[Any]) -> tuple[set[int], str]:
        self._confirmed, self._refused = [], []
        error = ""
        try:
            channel = self._open()
            for event in events:
                channel.basic_publish(
                    exchange=self.exchange,
                    routing_key=event.event_type,
                    body=json.dumps(event.payload).encode(),
                    properties=pika.BasicProperties(
                        content_type="application/json",
                        delivery_mode=pika.DeliveryMode.Persistent,
                        headers={
                            "outbox_id": event.id,
                            "event_type": event.event_type,
                            "created_at": event.created_at.isoformat(),
                        },
                    ),
                )
                self._tag += 1
                self._unconfirmed[self._tag] = event.id
            self._wait(lambda: not self._unconfirmed, CONFIRM_TIMEOUT, "waiting for confirms")
        except PublishError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001  (any broker failure: the connection is dropped)
            reason = f"{type(exc).__name__}: {exc}".strip().rstrip(":") or type(exc).__name__
            error = mask_url(f"RabbitMQ publish failed: {reason}", self.url)
        if error:
            self.close()
        elif self._refused:
            error = f"RabbitMQ refused {len(self._refused)} message(s) (nack)"
        return set(self._confirmed), error

    def close(self) -> None:
        """Close the connection (waiting briefly for the broker to agree) and free its loop."""
        connection, self._connection, self._channel, self._ready = self._connection, None, None, False
        self._unconfirmed = {}
        if connection is None:
            return
        try:
            if connection.is_open:
                connection.close()
                loop, expired = connection.ioloop, []
                timer = loop.call_later(2.0, lambda: (expired.append(True), loop.stop()))
                self._wake = loop.stop
                while not connection.is_closed and not expired:
                    loop.start()
                loop.remove_timeout(timer)
        except Exception:  # noqa: BLE001, S110  (already gone)
            pass
        finally:
            self._wake = None
            try:
                connection.ioloop.close()
            except Exception:  # noqa: BLE001, S110
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

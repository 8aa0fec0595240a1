"""The shared RabbitMQ broker on 127.0.0.1:5672 (user guest), each test on its own exchange, and a
consumer written as upstream's watcher is (ska-dlm-client): a durable queue bound with key
``dlm.migration.update`` to the relay's exchange, declared passively (the relay made it)."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
import pytest

from events.amqp import Publisher, publisher

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def broker_answers(host: str = "127.0.0.1", port: int = 5672) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Message:
    routing_key: str
    headers: dict[str, Any]
    content_type: str
    delivery_mode: int
    body: dict[str, Any]


@dataclass
class Watcher:
    """upstream's watcher: a durable queue on the relay's exchange, bound with one key."""

    url: str
    exchange: str
    key: str = "dlm.migration.update"
    queue: str = field(default_factory=lambda: f"dlm.test.watcher.{uuid.uuid4().hex}")

    def __post_init__(self) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange=self.exchange, exchange_type="topic", passive=True)
        self.channel.queue_declare(queue=self.queue, durable=True)
        self.channel.queue_bind(queue=self.queue, exchange=self.exchange, routing_key=self.key)

    def drain(self, *, expect: int = 0, timeout: float = 10.0) -> list[Message]:
        """Every message in the queue: waits up to ``timeout`` for ``expect`` of them, then takes
        what else arrives within a short quiet interval."""
        got: list[Message] = []
        waited = 0.0
        for method, props, body in self.channel.consume(self.queue, inactivity_timeout=0.5):
            if method is None:
                waited += 0.5
                if len(got) >= expect or waited >= timeout:
                    break
                continue
            self.channel.basic_ack(method.delivery_tag)
            headers = dict(props.headers or {})
            got.append(Message(method.routing_key, headers, props.content_type, props.delivery_mode, json.loads(body)))
        self.channel.cancel()
        return got

    def close(self) -> None:
        try:
            self.channel.queue_delete(queue=self.queue)
            self.channel.exchange_delete(exchange=self.exchange)
            self.connection.close()
        except Exception:  # noqa: BLE001, S110
            pass


@pytest.fixture
def amqp(settings) -> Iterator[str]:
    """The shared broker, with an exchange of this test's own; its URL."""
    if not broker_answers():
        pytest.skip("no RabbitMQ broker on 127.0.0.1:5672")
    settings.DLM_AMQP_URL = AMQP_URL
    settings.DLM_AMQP_EXCHANGE = f"dlm.test.{uuid.uuid4().hex}"
    yield AMQP_URL
    current = publisher()
    if current is not None:
        current.close()


@pytest.fixture
def watcher(amqp, settings) -> Iterator[Watcher]:
    """upstream's watcher, bound before anything is published (the relay declares the exchange)."""
    declare = Publisher(amqp, settings.DLM_AMQP_EXCHANGE)
    declare._open()
    declare.close()
    consumer = Watcher(amqp, settings.DLM_AMQP_EXCHANGE)
    yield consumer
    consumer.close()

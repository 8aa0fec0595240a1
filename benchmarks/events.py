#!/usr/bin/env python
"""10,000 events through the outbox relay to RabbitMQ.

    .venv/bin/python benchmarks/events.py [--events 10000] [--database-url postgres://…/ev_bench]

Producer processes (``--producers``, 2 as gunicorn's workers) commit the events
(``core.events.emit``, 50 per transaction) as fast as they can, as the web processes would; a relay
process runs what a worker runs (``events.tasks.relay_run``, again whenever it returns, after
``DLM_OUTBOX_POLL`` when nothing was pending); a consumer bound to the exchange, in this process,
measures per message the time from the event's commit (its ``created_at``) to its arrival. Each
in its own process, as in a deployment. Prints events/s
(first commit to last arrival) and the p50/p95 delay. Needs the RabbitMQ broker on 127.0.0.1:5672.
Without ``--database-url``, a fresh SQLite file in a temporary directory.

Targets: >= 1,000 events/s; p95 commit → broker <= 2 s at the default poll.
"""

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime

# benchmarks/copy.py would shadow the standard library's ``copy``: the project comes first instead.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RATE_TARGET, P95_TARGET = 1000.0, 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--producers", type=int, default=2, help="processes committing events (the web's workers)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="dlm-bench-events-")
    os.environ["DLM_VAR_DIR"] = tmp
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
    os.environ["DLM_AMQP_URL"] = "amqp://guest:guest@127.0.0.1:5672/%2F"
    os.environ["DLM_AMQP_EXCHANGE"] = f"dlm.bench.{uuid.uuid4().hex}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dlm.settings")
    import django

    django.setup()
    import pika
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections, transaction

    from core.events import emit
    from core.models import OutboxEvent
    from events.amqp import Publisher
    from events.tasks import relay_run

    call_command("migrate", verbosity=0)
    OutboxEvent.objects.all().delete()
    url, exchange = settings.DLM_AMQP_URL, settings.DLM_AMQP_EXCHANGE
    declare = Publisher(url, exchange)
    declare._open()
    declare.close()
    conn = pika.BlockingConnection(pika.URLParameters(url))
    channel = conn.channel()
    queue = channel.queue_declare(queue="", exclusive=True).method.queue
    channel.queue_bind(queue=queue, exchange=exchange, routing_key="#")
    delays: list[float] = []
    last_arrival = [0.0]

    def on_message(ch, method, props, body) -> None:
        now = time.time()
        created = datetime.fromisoformat(props.headers["created_at"]).timestamp()
        delays.append(now - created)
        last_arrival[0] = now
        if len(delays) >= args.events:
            ch.stop_consuming()

    channel.basic_consume(queue=queue, on_message_callback=on_message, auto_ack=True)

    def produce(first: int, stop: int) -> None:
        connections.close_all()  # the parent's connections are not this process's
        for start in range(first, stop, 50):
            with transaction.atomic():
                for n in range(start, min(start + 50, stop)):
                    emit("dlm.bench.event", subjects={"n": n}, payload={"n": n, "pad": "x" * 200})
        connections.close_all()

    def relay() -> None:
        connections.close_all()
        while True:
            if not relay_run()["claimed"]:
                time.sleep(settings.DLM_OUTBOX_POLL)

    connections.close_all()
    fork = multiprocessing.get_context("fork")
    began = time.time()
    shares = [
        (n * args.events // args.producers, (n + 1) * args.events // args.producers) for n in range(args.producers)
    ]
    producers = [fork.Process(target=produce, args=share) for share in shares]
    relayer = fork.Process(target=relay, daemon=True)
    for producer in producers:
        producer.start()
    relayer.start()
    channel.start_consuming()
    for producer in producers:
        producer.join()
    relayer.terminate()
    relayer.join()
    conn.close()
    seconds = last_arrival[0] - began
    rate = len(delays) / seconds
    delays.sort()
    p50 = delays[len(delays) // 2]
    p95 = delays[int(len(delays) * 0.95) - 1]
    vendor = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
    print(
        f"{vendor}: {len(delays)} events in {seconds:.2f} s = {rate:.0f} events/s; "
        f"commit->broker p50 {p50:.3f} s, p95 {p95:.3f} s"
    )
    ok = rate >= RATE_TARGET and p95 <= P95_TARGET
    print("targets (>= 1000 events/s, p95 <= 2 s):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""The API's lookups turned into rows: the cached-SQL road against the plain ORM, in one process.

    .venv/bin/python benchmarks/rows.py [--items N] [--rounds R] [--calls C] [--no-pg]

Fills a fresh SQLite file and the PostgreSQL database ``--db`` (recreated) with one location,
``--storages`` storages and ``--items`` data items (``bulk_create``), then times ``core.rows``
for the lookups the API makes (the selectors' querysets, paged as the views page them) through
each road. Every (database, lookup, road) block of ``--calls`` calls runs once per round, in a
new random order each round, so that a busy machine slows every road alike; the figures are the
medians over the rounds of the wall and CPU time per call. The roads' rows are checked equal first.

See benchmarks/README.md for the figures measured and how to read them.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

# Run as ``python benchmarks/rows.py``, this directory comes first on sys.path, where copy.py would
# shadow the standard library's ``copy`` (which dataclasses imports): put the project there instead.
if os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from dataclasses import dataclass  # noqa: E402

from benchmarks.common import PG_URL, django_env, ensure_database, log  # noqa: E402


def setup(pg_url: str | None, var_dir: str) -> list[str]:
    """Django on a SQLite file (alias ``default``) and, with ``pg_url``, PostgreSQL (alias ``pg``)."""
    os.environ.update(django_env("", var_dir))
    os.environ.pop("DATABASE_URL", None)
    import dj_database_url
    import django
    from django.conf import settings

    if pg_url:
        settings.DATABASES["pg"] = dj_database_url.parse(pg_url, conn_max_age=60)  # as dlm/settings.py
    django.setup()
    from django.core.management import call_command

    aliases = ["default", "pg"] if pg_url else ["default"]
    for alias in aliases:
        call_command("migrate", database=alias, verbosity=0)
    return aliases


def fill(alias: str, items: int, n_storages: int, seed: int) -> None:
    from django.db import connections

    from catalogue.models import DataItem, Location, Storage

    rng = random.Random(seed)
    location = Location.objects.using(alias).create(location_name="bench", location_type="low-operations")
    storages = Storage.objects.using(alias).bulk_create(
        Storage(location=location, storage_name=f"bench-{n:02d}", storage_type="filesystem", storage_interface="posix")
        for n in range(n_storages)
    )
    rows = []
    start = DataItem._meta.get_field("uid_creation").default()
    obj = 0
    while len(rows) < items:
        name = f"eb-{obj // 8:07d}/product-{obj % 8:02d}.ms"
        oid = uuid.UUID(int=rng.getrandbits(128), version=4)
        copies = 2 if rng.random() < 0.1 else 1
        for copy, storage in enumerate(rng.sample(storages, copies)):
            rows.append(
                DataItem(
                    uid=oid if copy == 0 else uuid.uuid4(),
                    oid=oid,
                    item_name=name,
                    storage=storage,
                    uri=name,
                    item_state="READY",
                    uid_creation=start - timedelta(seconds=items - len(rows)),
                    item_size=rng.randrange(1 << 20, 1 << 36),
                    item_checksum=f"{rng.getrandbits(128):032x}",
                    metadata={"execution_block": f"eb-{obj // 8:07d}", "product": obj % 8},
                )
            )
        obj += 1
    DataItem.objects.using(alias).bulk_create(rows, batch_size=500)
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum soon would: the plans of a live database


@dataclass
class Lookup:
    """One of the API's lookups: the n-th call's queryset as the API builds it, and the same lookup
    written as one SQL statement with its parameters."""

    name: str
    model: type
    columns: list[tuple[str, str]] | None  # None: an existence check
    queryset: Callable[[int], Any]
    statement: Callable[[int], tuple[str, list]]


def lookups(alias: str, seed: int) -> list[Lookup]:
    from django.conf import settings
    from django.db import connections

    from catalogue import selectors
    from catalogue.api.views.request import ITEM_STORAGE_COLUMNS
    from catalogue.models import DataItem, Location, Storage
    from catalogue.rows import DATA_ITEM_COLUMNS, LOCATION_COLUMNS, STORAGE_COLUMNS
    from core.paging import page

    keys = list(DataItem.objects.using(alias).values_list("item_name", "uid", "oid"))
    random.Random(seed).shuffle(keys)
    connection = connections[alias]
    cap = settings.DLM_QUERY_LIMIT

    def key(n: int, position: int):
        return keys[n % len(keys)][position]

    def select(model, columns, where: str = "", params=(), field: str = "", limit: int = cap):
        """A statement as one would write it by hand, and its parameters as the field prepares them."""
        names = ", ".join(model._meta.get_field(attr).column for _, attr in columns)
        order = ", ".join(model._meta.get_field(name).column for name in model._meta.ordering)
        sql = f"SELECT {names} FROM {model._meta.db_table}{where} ORDER BY {order} LIMIT {limit}"
        if field:
            params = [model._meta.get_field(field).get_db_prep_value(params[0], connection), *params[1:]]
        return sql, list(params)

    items = DataItem, DATA_ITEM_COLUMNS
    ready = " AND item_state = %s"
    return [
        Lookup("data_item by item_name", *items,
               lambda n: page(selectors.data_item_query(item_name=key(n, 0))).using(alias),
               lambda n: select(*items, " WHERE item_name = %s", [key(n, 0)])),
        Lookup("data_item by uid", *items,
               lambda n: page(selectors.data_item_query(uid=key(n, 1))).using(alias),
               lambda n: select(*items, " WHERE uid = %s", [key(n, 1)], "uid")),
        Lookup("data_item by oid", *items,
               lambda n: page(selectors.data_item_query(oid=key(n, 2))).using(alias),
               lambda n: select(*items, " WHERE oid = %s", [key(n, 2)], "oid")),
        Lookup("item_storage", DataItem, ITEM_STORAGE_COLUMNS,
               lambda n: page(selectors.data_item_storage(item_name=key(n, 0))).using(alias),
               lambda n: select(DataItem, ITEM_STORAGE_COLUMNS, " WHERE item_name = %s" + ready, [key(n, 0), "READY"])),
        Lookup("location list", Location, LOCATION_COLUMNS,
               lambda n: page(selectors.location_query()).using(alias),
               lambda n: select(Location, LOCATION_COLUMNS)),
        Lookup("storage list", Storage, STORAGE_COLUMNS,
               lambda n: page(selectors.storage_query()).using(alias),
               lambda n: select(Storage, STORAGE_COLUMNS)),
        Lookup("exists by item_name", DataItem, None,
               lambda n: DataItem.objects.using(alias).filter(item_name=key(n, 0), item_state="READY"),
               lambda n: ("SELECT 1 FROM data_item WHERE item_name = %s" + ready + " LIMIT 1", [key(n, 0), "READY"])),
    ]  # fmt: skip


def roads(lookup: Lookup, alias: str) -> list[tuple[str, Callable[[int], Any], Callable[[Any], Any]]]:
    """(name, prepare, run) for each way of answering the lookup: ``prepare(n)`` builds the n-th
    call's input (not timed), ``run`` answers it (timed)."""
    from django.db import connections

    from core.rows import json_value, orm_rows, row_of, rows

    columns = lookup.columns
    if columns is None:

        def cursor(statement):
            with connections[alias].cursor() as c:
                c.execute(*statement)
                return c.fetchone() is not None

        return [
            ("ORM", lookup.queryset, lambda queryset: queryset.exists()),
            ("cursor", lookup.statement, cursor),
        ]
    keys = [key for key, _ in columns]
    attrs = [attr for _, attr in columns]

    def iterator(queryset):
        records = queryset.values_list(*attrs).iterator(chunk_size=1000)
        return [{key: json_value(value) for key, value in zip(keys, record, strict=True)} for record in records]

    def raw(statement):
        return [row_of(instance, columns) for instance in lookup.model.objects.db_manager(alias).raw(*statement)]

    return [
        ("cached SQL", lookup.queryset, lambda queryset: rows(queryset, columns)),
        ("ORM", lookup.queryset, lambda queryset: orm_rows(queryset, columns)),
        ("ORM iterator", lookup.queryset, iterator),
        ("raw()", lookup.statement, raw),
    ]


def measure(blocks, rounds: int, calls: int, seed: int) -> dict[tuple, list[tuple[float, float]]]:
    """Per block, one (wall µs, CPU µs) per call figure per round; blocks shuffled every round."""
    rng = random.Random(seed)
    found: dict[tuple, list[tuple[float, float]]] = {label: [] for label, _, _ in blocks}
    for _ in range(rounds):
        rng.shuffle(blocks)
        for label, prepare, run in blocks:
            inputs = [prepare(n) for n in range(calls)]
            wall, cpu = time.perf_counter(), time.process_time()
            for given in inputs:
                run(given)
            found[label].append(((time.perf_counter() - wall) / calls * 1e6, (time.process_time() - cpu) / calls * 1e6))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=5000, help="data_item rows (5000)")
    parser.add_argument("--storages", type=int, default=20, help="storages (20)")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of every block (15)")
    parser.add_argument("--calls", type=int, default=100, help="calls per block and round (100)")
    parser.add_argument("--pg", default=PG_URL, help="PostgreSQL server URL")
    parser.add_argument("--db", default="dlm_bench_rows", help="PostgreSQL database, recreated (dlm_bench_rows)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--only", nargs="*", help="only the lookups whose name contains one of these words")
    args = parser.parse_args()
    var_dir = tempfile.mkdtemp(prefix="dlm-bench-rows-")
    try:
        return compare(args, var_dir)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def compare(args: argparse.Namespace, var_dir: str) -> int:
    """Fill both databases, check that the roads agree, time them, print the table."""
    pg_url = None
    if not args.no_pg:
        ensure_database(args.pg, args.db, fresh=True)
        pg_url = f"{args.pg}/{args.db}"
    aliases = setup(pg_url, var_dir)
    from django import VERSION
    from django.db import connections

    blocks = []
    table = []
    for alias in aliases:
        fill(alias, args.items, args.storages, args.seed)
        for lookup in lookups(alias, args.seed):
            if args.only and not any(word in lookup.name for word in args.only):
                continue
            ways = roads(lookup, alias)
            for n in range(3):
                answers = [run(prepare(n)) for _, prepare, run in ways]
                assert all(answer == answers[0] for answer in answers), (alias, lookup.name, n)
            for road, prepare, run in ways:
                blocks.append(((alias, lookup.name, road), prepare, run))
                table.append((alias, lookup.name, road))
    vendor = {alias: connections[alias].vendor for alias in aliases}
    log(
        f"Django {'.'.join(map(str, VERSION[:3]))}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs,"
        f" load {os.getloadavg()[0]:.1f}; {args.items:,} items, {args.rounds} rounds x {args.calls} calls per block"
    )
    found = measure(blocks, args.rounds, args.calls, args.seed)
    log(f"\nmedian per call over {args.rounds} rounds; 'vs ORM' is the ORM's CPU per call minus this road's\n")
    header = f"{'database':<10} {'lookup':<23} {'road':<13} {'wall µs':>8} {'CPU µs':>8} {'vs ORM':>8}"
    log(header)
    log("-" * len(header))
    for alias, lookup, road in table:  # in the order the lookups and roads are listed
        orm_cpu = statistics.median(cpu for _, cpu in found[(alias, lookup, "ORM")])
        wall = statistics.median(w for w, _ in found[(alias, lookup, road)])
        cpu = statistics.median(c for _, c in found[(alias, lookup, road)])
        log(f"{vendor[alias]:<10} {lookup:<23} {road:<13} {wall:>8.0f} {cpu:>8.0f} {orm_cpu - cpu:>+8.0f}")
    log(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

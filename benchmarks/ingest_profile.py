#!/usr/bin/env python
"""Where a single registration's time goes: ``POST /ingest/register_data_item`` with its access
check, in this process, through the whole Django stack (the test client), under cProfile.

    python -m benchmarks.ingest_profile [--requests N] [--top 10]          # SQLite: a new file
    python -m benchmarks.ingest_profile --bulk 10000 [--unchecked]        # one bulk registration
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/perf_bench python -m benchmarks.ingest_profile

1. Makes the database afresh (PostgreSQL: the database ``DATABASE_URL`` names, dropped and made
   again; SQLite: a new file) and migrates it, in this process (production settings).
2. Writes ``--requests`` files of 1 KiB under a local directory, and makes a location, a storage on
   it with a local rclone config, and an admin's API token.
3. Registers ``--warmup`` files unmeasured (the rclone daemon starts, the caches fill), then
   ``--requests`` files one after the other, each a request with the access check, and prints
   the mean time of one, the SQL statements of one (with ``--sql``) and cProfile's top costs: by
   own time, and by the parts of DLM a registration passes through (cumulative).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import time
from pathlib import Path
from urllib.parse import urlencode

from benchmarks.common import log
from benchmarks.lifecycle import django_migrated

# The parts of a registration, as the functions whose cumulative time the summary shows (the first
# of each label's functions that the profile holds: earlier and later versions of DLM named some
# of them differently).
PARTS = (
    ("whole request (test client)", (("django/test/client.py", "request"),)),
    ("authentication (token)", (("accounts/authentication.py", "authenticate"),)),
    (
        "storage lookup and capacity",
        (("catalogue/services/ingest.py", "_resolve_for_item"), ("catalogue/services/ingest.py", "_resolve_storage")),
    ),
    ("  of it, the one statement", (("catalogue/services/storages", "storage_find_for_item"),)),
    ("name check (duplicates)", (("catalogue/services/ingest.py", "_check_duplicates"),)),
    (
        "storage's rclone config (decrypt)",
        (
            ("catalogue/services/storages/remotes.py", "remote"),
            ("catalogue/services/ingest.py", "_storage_remote"),
            ("catalogue/services/storages", "storage_remote"),
        ),
    ),
    ("file stat, hashes (DLM or rclone)", (("core/rclone/operations.py", "stat"),)),
    ("file listing (bulk; DLM or rclone)", (("core/rclone/operations.py", "list_files"),)),
    ("insert: rows, events, audit", (("catalogue/services/data_items.py", "data_items_insert"),)),
    ("  outbox events", (("core/events.py", "emit_many"),)),
    ("  audit records", (("audit/capture.py", "created_recorded"),)),
    ("commit", (("django/db/backends/base/base.py", "commit"),)),
    ("answer (JSON)", (("rest_framework/response.py", "rendered_content"),)),
)


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="measured registrations (1,000)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured registrations first (50)")
    parser.add_argument("--top", type=int, default=10, help="rows of each profile table (10)")
    parser.add_argument("--sql", action="store_true", help="print the SQL statements of one registration")
    parser.add_argument("--bulk", type=int, default=0, help="profile one bulk registration of N items instead")
    parser.add_argument("--unchecked", action="store_true", help="the bulk registration without the access check")
    parser.add_argument("--no-profile", action="store_true", help="time without cProfile")
    parser.add_argument("--dump", type=Path, help="also write the profile to this file (for pstats or snakeviz)")
    parser.add_argument("--var", type=Path, default=Path("/tmp/dlm-bench-ingest-profile"), help="DLM_VAR_DIR")
    return parser.parse_args()


def setup(root: Path, files: int) -> tuple[str, str]:
    """The files, a storage holding them, and an admin's token: (storage name, token)."""
    from accounts.roles import Role
    from accounts.tokens import account_ensure, api_token_create
    from catalogue.services import location_create, storage_config_create, storage_create

    root.mkdir(parents=True, exist_ok=True)
    payload = os.urandom(1024)
    for n in range(files):
        (root / f"f{n}.bin").write_bytes(payload)
    location = location_create(location_name="bench", location_type="local-dev")
    storage = storage_create(
        storage_name="bench-local", storage_type="filesystem", storage_interface="posix", root_directory=str(root),
        location_id=location.location_id,
    )  # fmt: skip
    storage_config_create(
        storage_id=storage.storage_id, config={"name": "bl", "type": "local", "root_path": "/"}, check_remote=False
    )
    token = api_token_create(user=account_ensure(username="bench-admin", role=Role.ADMIN))[1]
    return storage.storage_name, token


def register(client, token: str, storage: str, n: int) -> None:
    query = {"item_name": f"p/f{n}.bin", "uri": f"f{n}.bin", "storage_name": storage, "do_storage_access_check": "true"}
    response = client.post(
        "/ingest/register_data_item?" + urlencode(query), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1",
    )  # fmt: skip
    if response.status_code != 200 or not isinstance(json.loads(response.content), str):
        raise SystemExit(f"registration {n}: {response.status_code} {response.content[:300]!r}")


def register_bulk(client, token: str, storage: str, first: int, count: int, *, checked: bool = True) -> None:
    items = [{"item_name": f"p/f{n}.bin", "uri": f"f{n}.bin"} for n in range(first, first + count)]
    query = {"storage_name": storage, "do_storage_access_check": "true" if checked else "false"}
    response = client.post(
        "/ingest/register_data_items?" + urlencode(query), data=json.dumps(items), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1",
    )  # fmt: skip
    if response.status_code != 200 or len(json.loads(response.content)) != count:
        raise SystemExit(f"bulk registration: {response.status_code} {response.content[:300]!r}")


def parts_table(stats: pstats.Stats, requests: int) -> list[tuple[str, float, float]]:
    """Each of ``PARTS``: its cumulative ms per registration and calls per registration."""
    rows = []
    for label, functions in PARTS:
        total, calls = 0.0, 0
        for file_part, name in functions:
            for (filename, _, function), (_, ncalls, _, cumulative, _) in stats.stats.items():
                if function == name and file_part in filename:
                    total += cumulative
                    calls += ncalls
            if calls:
                break
        rows.append((label, total * 1000 / requests, calls / requests))
    return rows


def main() -> int:
    args = options()
    django_migrated(args.var, fresh=True)

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    total = args.warmup + 1 + (args.bulk or args.requests)
    if args.bulk:
        args.requests = 1
    storage, token = setup(args.var / "files", total)
    client = Client()
    for n in range(args.warmup):
        register(client, token, storage, n)
    with CaptureQueriesContext(connection) as queries:
        register(client, token, storage, args.warmup)
    log(f"\none registration: {len(queries.captured_queries)} SQL statements")
    if args.sql:
        for query in queries.captured_queries:
            log(f"  {query['time']}s {query['sql'][:300]}")

    first = args.warmup + 1
    profile = cProfile.Profile()
    started = time.perf_counter()
    if not args.no_profile:
        profile.enable()
    if args.bulk:
        register_bulk(client, token, storage, first, args.bulk, checked=not args.unchecked)
    else:
        for n in range(first, first + args.requests):
            register(client, token, storage, n)
    if not args.no_profile:
        profile.disable()
    seconds = time.perf_counter() - started
    what = "items in one bulk registration" if args.bulk else "registrations"
    under = " (under cProfile)" if not args.no_profile else ""
    log(
        f"{args.bulk or args.requests:,} {what} in {seconds:.2f} s: {seconds * 1000 / args.requests:.2f} ms each{under}"
    )
    if args.no_profile:
        return 0

    stats = pstats.Stats(profile)
    if args.dump:
        stats.dump_stats(args.dump)
    log(f"\n{'part of a registration':36} {'ms each':>8} {'calls each':>10}")
    for label, ms, calls in parts_table(stats, args.requests):
        log(f"{label:36} {ms:>8.3f} {calls:>10.1f}")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
        log(f"\ntop {args.top} by {order}:")
        log("\n".join(line for line in out.getvalue().splitlines() if line.strip()[:1].isdigit() or "ncalls" in line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python
"""A consistency scan at scale: a local storage of N files against a catalogue of N copies.

    python -m benchmarks.scan --objects 100000                # SQLite: a fresh file under --var
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ig_scans_bench python -m benchmarks.scan

1. Makes the database afresh (PostgreSQL: the database ``DATABASE_URL`` names, dropped and made
   again; SQLite: a new file) and migrates it, in this process (production settings).
2. Writes N small files under a local directory (in 100 directories) and inserts N READY copies of
   them on a storage with a local rclone config (``bulk_create``), then takes a few files away
   (``--lost``) and adds a few nobody registered (``--dark``).
3. Runs one scan (``integrity.scans``: rclone ``lsjson -R`` streamed, compared a chunk at a time)
   and prints its time, objects compared per second, its counts, and the peak RSS of this process
   and of the rclone child (``RUSAGE_CHILDREN``).

Target: at least 5,000 objects/s compared; memory flat (the peak RSS barely grows with N). The
exit status is 0 when the target is met and the counts are right.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
import uuid
from pathlib import Path

from benchmarks.common import exit_status, log
from benchmarks.lifecycle import django_migrated, peak_rss_mib, peak_rss_reset

TARGET_PER_S = 5_000


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=100_000, help="files and catalogued copies (100,000)")
    parser.add_argument("--lost", type=int, default=5, help="catalogued files taken away (5)")
    parser.add_argument("--dark", type=int, default=5, help="files nobody registered (5)")
    parser.add_argument("--var", type=Path, default=Path("/tmp/dlm-bench-scan"), help="DLM_VAR_DIR of the run")
    return parser.parse_args()


def fill(root: Path, objects: int, lost: int, dark: int):
    """The storage, its files and its copies; the storage row."""
    from django.utils import timezone

    from catalogue.choices import ItemState
    from catalogue.models import DataItem
    from catalogue.services import location_create, storage_config_create, storage_create

    if root.exists():
        shutil.rmtree(root)
    data = root / "data"
    location = location_create(location_name="bench", location_type="local-dev")
    storage = storage_create(
        storage_name="bench-disk", storage_type="filesystem", storage_interface="posix", root_directory="data",
        location_id=location.location_id,
    )  # fmt: skip
    storage_config_create(
        storage_id=storage.storage_id, config={"name": "bench", "type": "local", "root_path": str(root)},
        check_remote=False,
    )  # fmt: skip
    started = time.perf_counter()
    for index in range(objects):
        path = data / f"d{index % 100:02d}" / f"f{index:07d}.bin"
        if index < 100:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (index % 64))
    log(f"  {objects:,} files written in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    now = timezone.now() - timezone.timedelta(hours=1)
    batch: list[DataItem] = []
    for index in range(objects):
        uri = f"d{index % 100:02d}/f{index:07d}.bin"
        uid = uuid.uuid4()
        batch.append(
            DataItem(
                uid=uid, oid=uid, item_name=uri, uri=uri, storage_id=storage.storage_id, item_state=ItemState.READY,
                item_size=index % 64, uid_creation=now, oid_creation=now,
            )
        )  # fmt: skip
        if len(batch) == 5000:
            DataItem.objects.bulk_create(batch)
            batch.clear()
    DataItem.objects.bulk_create(batch)
    log(f"  {objects:,} copies inserted in {time.perf_counter() - started:.1f} s")
    for index in range(lost):
        (data / f"d{index % 100:02d}" / f"f{index:07d}.bin").unlink()
    for index in range(dark):
        (data / "dark" / f"stray-{index}.bin").parent.mkdir(exist_ok=True)
        (data / "dark" / f"stray-{index}.bin").write_bytes(b"?")
    return storage


def main() -> int:
    args = options()
    django_migrated(args.var, fresh=True)

    from integrity import scans
    from integrity.models import Scan

    storage = fill(args.var / "storage", args.objects, args.lost, args.dark)
    scan = scans.scan_create(storage_id=storage.storage_id, user="bench", enqueue=False)
    peak_rss_reset()
    started = time.perf_counter()
    state = scans.scan_run(scan.pk)
    seconds = time.perf_counter() - started
    scan = Scan.objects.get(pk=scan.pk)
    rss = peak_rss_mib()
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rate = scan.entries_listed / seconds if seconds else float("nan")
    log(f"\nscan {scan.pk}: {state} in {seconds:.2f} s{' — ' + scan.error if scan.error else ''}")
    log(
        f"  {scan.entries_listed:,} listed, {scan.matched:,}/{scan.copies_expected:,} copies found, "
        f"{scan.lost} lost, {scan.dark} dark, {scan.mismatched} mismatched"
    )
    log(f"  {rate:,.0f} objects/s compared (target {TARGET_PER_S:,}: {rate / TARGET_PER_S:.2f}x)")
    log(f"  peak RSS: this process {rss:,.0f} MiB, rclone child {child:,.0f} MiB")
    counts_right = (scan.lost, scan.dark, scan.matched) == (args.lost, args.dark, args.objects - args.lost)
    if not counts_right:
        log("  counts wrong")
    return exit_status(state == "completed" and counts_right and rate >= TARGET_PER_S)


if __name__ == "__main__":
    raise SystemExit(main())

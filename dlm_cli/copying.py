"""``dlm migration copy-data-item … --wait``: start a copy, follow its job with a progress bar fed
by the job's own progress (bytes done of bytes total), and end with the job's result."""

from __future__ import annotations

import time
from typing import Any

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

FINISHED = {"completed", "failed", "cancelled"}
POLL_SECONDS = 0.5


def copy_and_wait(state, query: dict[str, Any]) -> int:
    """Start the copy, wait for its job to finish; print the job's row; 0 when it completed."""
    from dlm_cli.app import OK, REFUSED, run

    started = run(state, lambda: state.client.call("POST", "/migration/copy_data_item", query))
    migration_id = started["migration_id"]
    printer = state.printer
    printer.note(f"copy job {migration_id}: new copy {started['uid']}")
    columns = (
        TextColumn("[bold]{task.fields[state]}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=printer.err, transient=False) as progress:
        task = progress.add_task("copy", total=None, state="queued")
        while True:
            rows = run(state, lambda: state.client.get("/migration/get_migration", migration_id=migration_id))
            job = rows[0] if rows else {}
            done, total = job.get("bytes_done") or 0, job.get("bytes_total")
            progress.update(task, completed=done, total=total, state=job.get("state", "?"))
            if job.get("state") in FINISHED:
                if job["state"] == "completed" and total:
                    progress.update(task, completed=total)
                break
            time.sleep(POLL_SECONDS)
    printer.answer(job)
    if job.get("state") == "completed":
        return OK
    printer.error(f"copy job {migration_id} {job.get('state')}: {job.get('last_error') or 'no reason given'}")
    return REFUSED

"""How the pages show a copy job: its figures in words (``ui/static/ui/jobs.js`` words them the
same way while it polls), where it stands, and a row of the jobs list."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from core.units import human_size
from migrations_app.models import Migration
from migrations_app.states import ACTIVE, CHECKING, COPYING, FAILURES, FINISHED, SUCCEEDED, WAITING, WORKING, JobState

ERROR_PREVIEW = 90

# The state groups the pages' script asks about, by name: it reads them from the page
# (``json_script``) rather than knowing the states itself.
PHASES: dict[str, list[str]] = {
    "waiting": list(WAITING),
    "copying": list(COPYING),
    "checking": list(CHECKING),
    "succeeded": list(SUCCEEDED),
}  # characters of the last error's first line shown in the list


def human_duration(seconds: int) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 7 min``."""
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _number(value: float) -> str:
    """As JavaScript's ``String(value)`` writes a percent: ``12.3``, ``100``, ``0``."""
    return f"{value:g}"


@dataclass(frozen=True)
class Progress:
    """Where a job stands, as the job page shows it and ``/jobs/<id>/progress`` answers it."""

    state: str
    bytes_done: int
    bytes_total: int | None
    percent: float | None  # one decimal; None while the total is unknown
    rate: float  # bytes/s of the running attempt
    eta_seconds: int | None  # only for a running copy with a known total and a rate
    attempts: int
    last_error: str
    finished: bool

    @classmethod
    def of(cls, job: Migration) -> Progress:
        """The figures of a job row."""
        done = job.bytes_done
        total = job.bytes_total if job.bytes_total and job.bytes_total > 0 else None
        if job.state in SUCCEEDED:
            percent: float | None = 100.0
        elif total:
            percent = round(min(100.0, done * 100 / total), 1)
        else:
            percent = None
        eta = None
        if job.state in COPYING and total and job.rate > 0:
            eta = math.ceil(max(0, total - done) / job.rate)
        return cls(
            state=job.state,
            bytes_done=done,
            bytes_total=total,
            percent=percent,
            rate=job.rate,
            eta_seconds=eta,
            attempts=job.attempts,
            last_error=job.last_error,
            finished=job.state in FINISHED,
        )

    def as_json(self) -> dict[str, Any]:
        """The progress endpoint's answer."""
        return asdict(self)

    @property
    def waiting(self) -> bool:
        """Queued: waiting for a worker, or for its retry time."""
        return self.state in WAITING

    @property
    def working(self) -> bool:
        """A worker copies or verifies it."""
        return self.state in WORKING

    @property
    def succeeded(self) -> bool:
        """Ended with the copy verified."""
        return self.state in SUCCEEDED

    @property
    def failed(self) -> bool:
        """Ended for good without a copy."""
        return self.state in FAILURES

    @property
    def percent_text(self) -> str:
        return "" if self.percent is None else f"{_number(self.percent)}%"

    @property
    def total_text(self) -> str:
        return human_size(self.bytes_total) if self.bytes_total else ""

    @property
    def figures(self) -> str:
        """``1.2 MiB of 10.0 MiB (12%) · 3.0 MiB/s · about 3 s left``."""
        if self.bytes_total:
            text = f"{human_size(self.bytes_done)} of {human_size(self.bytes_total)} ({self.percent_text})"
        else:
            text = f"{human_size(self.bytes_done)} copied"
        if self.state in COPYING and self.rate > 0:
            text += f" · {human_size(self.rate)}/s"
        if self.eta_seconds is not None:
            text += f" · about {human_duration(self.eta_seconds)} left"
        return text

    @property
    def sentence(self) -> str:
        """What the page's ``aria-live`` region says: it changes at each state and each tenth of
        the copy, not at every poll, so that a screen reader is not flooded."""
        if self.state in WAITING:
            if self.attempts:
                return f"Queued for attempt {self.attempts + 1}: waiting for a worker."
            return "Queued: waiting for a worker."
        if self.state in COPYING:
            if self.percent is None:
                return "Copying."
            return f"Copying: {int(self.percent // 10 * 10)}% done."
        if self.state in CHECKING:
            return "Verifying the copy."
        return f"{JobState(self.state).label}."


def first_line(text: str, limit: int = ERROR_PREVIEW) -> str:
    """The first non-blank line of ``text``, cut at ``limit`` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class JobRow:
    """A row of the jobs list: the job, its figures, its last error's first line, and whether the
    page watches it live."""

    job: Migration
    progress: Progress
    error_line: str
    active: bool


def job_row(job: Migration) -> JobRow:
    """The list's row of ``job``."""
    return JobRow(job=job, progress=Progress.of(job), error_line=first_line(job.last_error), active=job.state in ACTIVE)

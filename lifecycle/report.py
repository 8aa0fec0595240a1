"""What a lifecycle pass did (or, in a dry run, would do): its decisions, with their reasons, and
its counts by step."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from lifecycle.models import PassState

DECISIONS_KEPT = 500  # decisions a pass row keeps, with their reasons (a dry run returns them all)

STEPS = ("oid-expiry", "uid-expiry", "target-phase", "rules")


@dataclass
class Decision:
    """One thing the pass did (or, in a dry run, would do), and why."""

    step: str
    action: str  # delete, copy, keep, cancel, wait
    oid: str
    reason: str
    uid: str = ""
    item_name: str = ""
    storage: str = ""
    destination: str = ""
    rule: str = ""
    job: int | None = None  # the copy or deletion job it made

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value not in ("", None)}


@dataclass
class PassReport:
    """What a pass did, by step; its decisions."""

    dry_run: bool
    decisions: list[Decision] = field(default_factory=list)
    tallies: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # besides the decisions
    pass_id: int | None = None
    duration: float = 0.0
    state: str = PassState.RUNNING
    error: str = ""
    queries: int | None = None

    def add(self, decision: Decision) -> None:
        self.decisions.append(decision)

    def count(self, step: str, what: str, n: int = 1) -> None:
        """Count something the pass saw and left, without a decision (an object within its grace…)."""
        self.tallies[step][what] += n

    @property
    def changes(self) -> int:
        return sum(1 for decision in self.decisions if decision.action in ("delete", "copy", "cancel"))

    def counts_dict(self) -> dict[str, dict[str, int]]:
        """Decisions by step and action (a decision's action is final once its batch is written),
        and the other counts."""
        counts: dict[str, Counter] = defaultdict(Counter)
        for decision in self.decisions:
            counts[decision.step][decision.action] += 1
        for step, tally in self.tallies.items():
            counts[step].update(tally)
        return {step: dict(counter) for step, counter in counts.items() if counter}

"""Placement rules: which objects a rule matches (in the database, and for one object in hand),
and what it still asks of an object."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Q

from catalogue.choices import ItemState
from catalogue.phases import at_least, combine
from lifecycle.models import PlacementRule
from lifecycle.objects import Copy, ObjectState

_WILDCARDS = re.compile(r"[*?\[]")


def is_glob(pattern: str) -> bool:
    return bool(_WILDCARDS.search(pattern))


def glob_regex(pattern: str) -> str:
    """A glob as an anchored regular expression that PostgreSQL, SQLite (Django's REGEXP) and
    Python read alike: ``*`` any text, ``?`` one character, ``[…]`` one of (``[!…]`` none of)."""
    out, i, n = ["^"], 0, len(pattern)
    while i < n:
        char = pattern[i]
        i += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            end = i + (pattern[i : i + 1] == "!")
            end += pattern[end : end + 1] == "]"
            end = pattern.find("]", end)
            if end < 0:  # no closing bracket: a plain "["
                out.append(re.escape(char))
                continue
            body, i = pattern[i:end], end + 1
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
        else:
            out.append(re.escape(char))
    out.append("$")
    return "".join(out)


def name_matches(pattern: str, name: str | None) -> bool:
    if not pattern:
        return True
    if name is None:
        return False
    if not is_glob(pattern):
        return name.startswith(pattern)
    return re.match(glob_regex(pattern), name, flags=re.DOTALL) is not None


def rule_filter(rule: PlacementRule) -> Q:
    """The READY copies through which an object matches the rule (``DataItem`` rows)."""
    q = Q(item_state=ItemState.READY)
    if rule.item_name_pattern:
        if is_glob(rule.item_name_pattern):
            q &= Q(item_name__regex=glob_regex(rule.item_name_pattern))
        else:
            q &= Q(item_name__startswith=rule.item_name_pattern)
    if rule.source_storage_id:
        q &= Q(storage_id=rule.source_storage_id)
    if rule.item_type:
        q &= Q(item_type=rule.item_type)
    if rule.metadata_key:
        if rule.metadata_value:
            q &= Q(**{f"metadata__{rule.metadata_key}": _metadata_value(rule.metadata_value)})
        else:
            q &= Q(metadata__has_key=rule.metadata_key)
    return q


def _metadata_value(text: str):
    """A metadata value as given (text); a number or true/false compares as one."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        return text


def matches(rule: PlacementRule, obj: ObjectState) -> bool:
    """The object matches the rule through one of its READY copies."""
    return any(_copy_matches(rule, copy) for copy in obj.copies if copy.item_state == ItemState.READY)


def _copy_matches(rule: PlacementRule, copy: Copy) -> bool:
    if not name_matches(rule.item_name_pattern, copy.item_name):
        return False
    if rule.source_storage_id and copy.storage_id != rule.source_storage_id:
        return False
    if rule.item_type and copy.item_type != rule.item_type:
        return False
    if rule.metadata_key:
        metadata = copy.metadata if isinstance(copy.metadata, dict) else {}
        if rule.metadata_key not in metadata:
            return False
        if rule.metadata_value and metadata[rule.metadata_key] != _metadata_value(rule.metadata_value):
            return False
    return True


@dataclass(frozen=True)
class Need:
    """What a rule still asks of an object: ``copies`` more on storages of ``min_phase`` or more,
    and/or a copy on ``storage_id``."""

    rule: PlacementRule
    copies: int = 0
    storage_id: object = None

    def __bool__(self) -> bool:
        return bool(self.copies or self.storage_id)

    def describe(self) -> str:
        parts = []
        if self.copies:
            copies = "copy" if self.copies == 1 else "copies"
            parts.append(f"{self.copies} more {copies} on {self.rule.min_phase} or better")
        if self.storage_id:
            parts.append(f"a copy on {self.rule.storage.storage_name if self.rule.storage else self.storage_id}")
        return f"rule {self.rule.name} asks for " + " and ".join(parts)


def need(rule: PlacementRule, copies: list[Copy], *, pending_to: set = frozenset()) -> Need:
    """What ``rule`` still asks, given the copies that count (and copies on their way to the
    storages ``pending_to``, which are not asked for twice)."""
    missing = 0
    if rule.copies:
        good = sum(1 for copy in copies if at_least(copy.storage_phase, rule.min_phase or "PLASMA"))
        missing = max(rule.copies - good, 0)
    storage_id = None
    if rule.storage_id and not any(copy.storage_id == rule.storage_id for copy in copies):
        if rule.storage_id not in pending_to:
            storage_id = rule.storage_id
    return Need(rule, missing, storage_id)


def rules_enabled() -> list[PlacementRule]:
    return list(PlacementRule.objects.filter(enabled=True).select_related("storage", "source_storage"))


def rules_matching(rules: list[PlacementRule], obj: ObjectState) -> list[PlacementRule]:
    return [rule for rule in rules if matches(rule, obj)]


def deletion_refusal(obj: ObjectState, copy: Copy, rules: list[PlacementRule]) -> str:
    """Why deleting ``copy`` would leave ``obj`` short, or "" when it may go: never the last READY
    copy; the copies that count without it must give the object its target phase, and every rule
    it matches must not ask for more than it did with it."""
    if not copy.counts:
        return ""
    others = [other for other in obj.counted if other.uid != copy.uid]
    if not others:
        return f"{copy.uid} is the last READY copy of object {obj.oid}"
    after = combine(other.storage_phase for other in others)
    target = obj.target
    if target and not at_least(after, target):
        return f"would leave the object at {after} below its target {target}"
    for rule in rules:
        before, without = need(rule, obj.counted), need(rule, others)
        if without.copies > before.copies or (without.storage_id and not before.storage_id):
            return f"would break {without.describe()}"
    return ""

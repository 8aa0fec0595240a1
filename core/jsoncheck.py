"""What a JSON value from a client must not hold: the checks every JSON body gets (``core.contract``)
and every JSON text a form or filter takes, before anything below sees the value."""

from __future__ import annotations

import math
import re
from typing import Any

MAX_BODY_DEPTH = 100


# An unpaired surrogate: JSON's ``\\ud800`` escapes decode to one, which UTF-8 cannot hold.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_problem(text: str) -> tuple[str, str] | None:
    if "\x00" in text:
        return ("string_type", "Input should not contain NUL characters")
    if not text.isascii() and _LONE_SURROGATE.search(text):
        return ("string_unicode", "Input should not contain unpaired surrogates (\\ud800 to \\udfff)")
    return None


def json_problem(value: Any) -> tuple[str, list[Any], str] | None:
    """``(type, at, msg)`` of a JSON value no layer below can take, else None: a key or string
    holding a NUL character or an unpaired surrogate (PostgreSQL and rclone refuse them), a
    number that is NaN or infinite (Python's parser takes them; they are not JSON, and the
    databases refuse them), or nesting deeper than ``MAX_BODY_DEPTH`` (the recursive code that
    stores and renders JSON would fail). ``at`` is the position in the value (keys and indexes;
    for too deep a nesting, its first step only). Iterative on purpose."""
    pending: list[tuple[Any, list[Any]]] = [(value, [])]
    while pending:
        node, where = pending.pop()
        if isinstance(node, str):
            problem = _text_problem(node)
            if problem is not None:
                return (problem[0], where, problem[1])
            continue
        if isinstance(node, float):
            if not math.isfinite(node):
                return ("finite_number", where, "Input should be a finite number (NaN and Infinity are not JSON)")
            continue
        if not isinstance(node, dict | list):
            continue
        if len(where) >= MAX_BODY_DEPTH:
            return ("json_invalid", where[:1], f"JSON nested more than {MAX_BODY_DEPTH} levels deep")
        for key, item in node.items() if isinstance(node, dict) else enumerate(node):
            problem = _text_problem(key) if isinstance(key, str) else None
            if problem is not None:  # the key named as UTF-8 can write it
                return (problem[0], [*where, key.encode("utf-8", "backslashreplace").decode()], problem[1])
            pending.append((item, [*where, key]))
    return None

"""What rclone's failures are to DLM: ``RcloneError``, whether trying again can cure one
(``error_is_permanent``), and the masking of secret values in the texts rclone gives back."""

from __future__ import annotations

import json
import re
from typing import Any

from core.secrets import MASK, is_secret_option


class RcloneError(RuntimeError):
    """rclone could not be reached, or failed; the message is safe to show (secrets masked).

    ``status`` is the daemon's HTTP status for the call (404: nothing at that path), or None."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def permanent(self) -> bool:
        """Whether trying the same call again cannot help (see ``error_is_permanent``)."""
        return error_is_permanent(str(self), self.status)


# What rclone's error texts say, for ``error_is_permanent``: the words of Go's errno texts, the S3
# SDK's ("https response error StatusCode: 403, …, api error SignatureDoesNotMatch: …"), ssh's, the
# HTTP backends' ("HTTP Error: 401 Unauthorized", "401 Unauthorized: 401 Unauthorized") and DLM's
# own for a daemon that could not be reached or died. A sign of a passing fault wins over a sign
# of a lasting one in the same text ("ssh: handshake failed: EOF" is a server that hung up, not a
# refused login); a text with neither is taken as passing.
_TRANSIENT = re.compile(
    r"connection refused|connection reset|broken pipe|\btime(?:d ?)?out\b|deadline exceeded"
    r"|(?-i:\bEOF\b)|StatusCode: 5\d\d\b|\bstatus(?: code)?:? 5\d\d\b|HTTP Error:? 5\d\d\b"
    r"|\b5\d\d (?:Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout)\b"
    r"|InternalError|SlowDown|ServiceUnavailable|RequestTimeout|\btoo many requests\b|StatusCode: 429\b"
    r"|temporar(?:y|ily)|try again|too many open files"
    # A full disk is a passing fault: space may be freed (old copies expire, an operator cleans up).
    r"|no space left on device"
    r"|rclone could not be reached|rclone did not answer|rclone stopped|daemon died",
    re.IGNORECASE,
)
_PERMANENT = re.compile(
    r"permission denied|read-only file system|operation not permitted"
    r"|NoSuchBucket|bucket does not exist"
    r"|not a directory|is a directory|file name too long"  # a path that cannot be made, or is the wrong kind
    r"|AccessDenied|access denied|InvalidAccessKeyId|SignatureDoesNotMatch"
    r"|StatusCode: 40[13]\b|\bstatus(?: code)?:? 40[13]\b|HTTP Error:? 40[13]\b|\b40[13] (?:Unauthorized|Forbidden)\b"
    r"|unable to authenticate|no supported methods remain"
    r"|didn't find backend called",  # a remote definition that names no backend
    re.IGNORECASE,
)


def error_is_permanent(message: str, status: int | None = None) -> bool:
    """Whether an rclone error (``message``, and the daemon's HTTP ``status`` for the call if
    known) is one that trying again cannot cure, so that a copy should fail at once: permissions,
    a read-only file system, a missing bucket, a path that cannot be made or is of the wrong kind,
    a name too long, refused keys or logins. Anything else, and anything unsure, is transient:
    refused or dropped connections, timeouts, servers' 5xx, a full disk, a daemon that could not be
    reached or died.

    ``status`` 400 (the daemon refused the call's parameters) is permanent; the daemon answers 500
    for every failure of the operation itself, so no other status decides."""
    if status == 400:
        return True
    if _TRANSIENT.search(message):
        return False
    return bool(_PERMANENT.search(message))


# rclone's words for nothing at a path (Go's fs.ErrorDirNotFound and fs.ErrorObjectNotFound, and
# the local backend's errno text, which a purge passes on).
_NOT_FOUND = re.compile(r"\b(?:directory|object) not found\b|no such file or directory", re.IGNORECASE)


def error_is_not_found(message: str) -> bool:
    """Whether an rclone error text says that nothing was at the path (a background job's error,
    which has no HTTP status to say so)."""
    return bool(_NOT_FOUND.search(message))


def secret_values(*configs: dict[str, Any]) -> list[str]:
    """The secret option values of remote definitions: what must be masked in text shown to people."""
    return [value for config in configs for value in _secret_values(config)]


def _secret_values(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict | list):
                found += _secret_values(value)
            elif is_secret_option(key) and value not in (None, ""):
                found.append(str(value))
    elif isinstance(node, list):
        for value in node:
            found += _secret_values(value)
    return found


def mask(text: str, values: list[str]) -> str:
    """``text`` with each of ``values`` (secrets, see ``secret_values``) replaced by ``***``."""
    # Values shorter than 4 characters are left: masking every "b" would garble the message.
    # rclone's errors may quote a value Go's way (``parse "\"https://…sig=…\""``, a SAS URL pasted
    # with its quotes): a secret is masked as written and as quoted (Go escapes ``"``, ``\`` and
    # control characters much as JSON does).
    forms = {form for value in values if len(value) >= 4 for form in (value, _quoted(value))}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def _quoted(value: str) -> str:
    """``value`` escaped as inside Go's ``%q`` (and JSON) quotes, without the quotes."""
    return json.dumps(value, ensure_ascii=False)[1:-1]

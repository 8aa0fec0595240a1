"""Helpers of the audit trail's tests: its rows as the database holds them, and an actor."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from django.db import connection

from audit.models import AuditRecord
from core.actor import Actor, acting


def raw_audit_rows() -> str:
    """Every audit_record row exactly as stored, as text (to look for what must not be there)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_record")
        return repr(cursor.fetchall())


def records(**filters) -> list[AuditRecord]:
    """Audit records matching ``filters``, oldest first."""
    return list(AuditRecord.objects.filter(**filters).order_by("id"))


@pytest.fixture
def actor(db) -> Iterator[Actor]:
    """An actor set for the test's code: a command run by ``ops``."""
    with acting(username="ops", user_id=None, auth="command", via="command", operation="test") as who:
        yield who


class _FormFields(HTMLParser):
    """The values a browser would submit with the page's forms (inputs, selects, text areas)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        name = a.get("name")
        if tag == "input" and name and a.get("type", "text") not in ("submit", "button", "file", "image"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.setdefault(name, []).append(a.get("value", "on" if a.get("type") == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][0] += data


def form_fields(html: str) -> dict[str, list[str]]:
    """What submitting the page's form unchanged would post."""
    parser = _FormFields()
    parser.feed(html)
    return parser.data

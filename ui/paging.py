"""Pages of a long list on the UI's pages: the page number a link carries, and one page of rows
with the links to the pages around it (the next page is known by reading one row more, never by
counting the table)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

MAX_PAGE = 100_000  # keeps an offset far from what a database can take


def page_number(raw: str | None) -> int:
    """The page a link asks for: 1 for anything that is not a number, at most ``MAX_PAGE``."""
    try:
        number = int(raw or 1)
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


def page_url(request: HttpRequest, param: str, number: int) -> str:
    """The request's own query with page ``number`` in ``param``."""
    query = request.GET.copy()
    query[param] = str(number)
    return f"?{query.urlencode()}"


def paged(request: HttpRequest, rows: QuerySet, param: str, size: int) -> dict[str, Any]:
    """One page of ``rows`` by the page number in ``param``: the rows, the number, and the links to
    the pages before and after it (empty where there is none)."""
    number = page_number(request.GET.get(param))
    offset = (number - 1) * size
    found = list(rows[offset : offset + size + 1])
    return {
        "rows": found[:size],
        "number": number,
        "previous_url": page_url(request, param, number - 1) if number > 1 else "",
        "next_url": page_url(request, param, number + 1) if len(found) > size else "",
    }

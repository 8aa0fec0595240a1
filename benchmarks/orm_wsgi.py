"""``dlm.wsgi`` with the cached-SQL road turned off: every lookup's rows through the plain ORM, for
``catalogue.py --wsgi benchmarks.orm_wsgi`` (what the road saves)."""

from __future__ import annotations

import core.rows

# Set before the application loads the views: they call it through its module.
core.rows.fetch = lambda queryset, attrs: None

from dlm.wsgi import application  # noqa: E402

__all__ = ["application"]

"""``dlm.wsgi`` with PostgreSQL's statements bound in the client and never prepared (as with
``DLM_PG_PREPARE=false``), for ``catalogue.py --wsgi benchmarks.unprepared_wsgi``: what planning
every lookup again costs."""

from __future__ import annotations

from django.conf import settings

from dlm.wsgi import application

settings.DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=False, prepare_threshold=None)

__all__ = ["application"]

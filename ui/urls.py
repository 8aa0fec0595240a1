"""The operator web UI's pages (server-rendered; each area keeps its own routes)."""

from __future__ import annotations

from ui.views import dashboard, items, jobs, places

urlpatterns = [*dashboard.urlpatterns, *places.urlpatterns, *items.urlpatterns, *jobs.urlpatterns]

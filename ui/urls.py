"""The operator web UI's pages (server-rendered; each area keeps its own routes)."""

from __future__ import annotations

from ui.views import dashboard, integrity, item_lifecycle, items, jobs, lifecycle, places, webhooks

urlpatterns = [
    *dashboard.urlpatterns,
    *places.urlpatterns,
    *items.urlpatterns,
    *item_lifecycle.urlpatterns,
    *jobs.urlpatterns,
    *lifecycle.urlpatterns,
    *integrity.urlpatterns,
    *webhooks.urlpatterns,
]

"""Links that apps above the catalogue add to the "related" cell of a storage and of a data item
(the copy jobs, say), so that the catalogue never imports them: each returns safe HTML. And the
admin actions they add to the data items' list (the lifecycle's "Delete payload"): each an admin
action function, ``(model_admin, request, queryset)``."""

from __future__ import annotations

from collections.abc import Callable

from catalogue.models import DataItem, Storage

STORAGE_LINKS: list[Callable[[Storage], str]] = []
DATA_ITEM_LINKS: list[Callable[[DataItem], str]] = []
DATA_ITEM_ACTIONS: list[Callable[..., object]] = []

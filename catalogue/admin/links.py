"""Links that apps above the catalogue add to the "related" cell of a storage and of a data item
(the copy jobs, say), so that the catalogue never imports them: each returns safe HTML."""

from __future__ import annotations

from collections.abc import Callable

from catalogue.models import DataItem, Storage

STORAGE_LINKS: list[Callable[[Storage], str]] = []
DATA_ITEM_LINKS: list[Callable[[DataItem], str]] = []

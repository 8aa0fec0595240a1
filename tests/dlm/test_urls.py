"""The API's paths come first in the URL list (fewer patterns tried for each API call); no path of
the contract is also a page of the web UI, so the order changes nothing that answers."""

from __future__ import annotations

import re
import uuid

from django.urls import resolve

import ui.urls
from core.contract import REGISTRY

SAMPLES = {"uuid": str(uuid.UUID(int=7)), "str": "ref-1", "int": "7", "slug": "a-b", "path": "a/b"}


def _sample(route: str) -> str:
    """A concrete path that the page's route matches."""
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], route)


def test_every_contract_path_answers_with_its_operation():
    for op in REGISTRY:
        assert resolve(op.path).url_name == op.operation_id, op.path


def test_every_page_of_the_web_ui_answers_with_its_page_and_no_contract_path_is_a_page():
    pages = [pattern for pattern in ui.urls.urlpatterns if pattern.name]
    assert len(pages) > 30
    for pattern in pages:
        path = "/" + _sample(str(pattern.pattern))
        assert resolve(path).url_name == pattern.name, path
    for op in REGISTRY:
        assert not any(pattern.pattern.match(op.path.lstrip("/")) for pattern in ui.urls.urlpatterns), op.path

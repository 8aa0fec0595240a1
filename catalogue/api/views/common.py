"""Parameters shared by several operations."""

from __future__ import annotations

from dlm.contract import Param

PAGING = (
    Param("limit", "int", description="At most this many rows (1 to DLM_QUERY_LIMIT, default the cap: 1000)."),
    Param("offset", "int", default=0, description="Skip this many rows of the ordered result."),
)


# An identifier that must be a UUID: a malformed one is a 422 naming it (upstream: 500).
def uuid_param(name: str, *, required: bool = False, description: str = "") -> Param:
    return Param(name, "uuid", required=required, description=description)

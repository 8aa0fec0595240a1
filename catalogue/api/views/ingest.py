"""``/ingest``: creating data items (contract §6)."""

from __future__ import annotations

from catalogue import services
from catalogue.api.schemas import STRING
from catalogue.choices import PhaseType
from dlm.contract import Body, Param, operation
from dlm.roles import Role

TAG = "ingest"


@operation(
    "POST",
    "/ingest/init_data_item",
    operation_id="init_data_item",
    role=Role.OPERATOR,
    params=(
        Param("item_name", description="When given, the body is ignored."),
        Param("uid_phase", "enum", default=PhaseType.GAS.value, choices=PhaseType),
    ),
    body=Body("json_data", description="Columns of the new data_item row (used when item_name is absent)."),
    response=STRING,
    tag=TAG,
)
def init_data_item(request, *, item_name, uid_phase, json_data) -> str:
    """Create an INITIALISED data item; answers its uid.

    ``item_owner`` is always the authenticated account, whatever the body says.
    """
    item = services.data_item_init(
        owner=request.user.get_username(), item_name=item_name, uid_phase=uid_phase, json_data=json_data
    )
    return str(item.uid)

"""Project-wide endpoints: the heartbeat, the OpenAPI document and its browsable docs."""

from __future__ import annotations

from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from core.contract import operation


@operation("GET", "/heartbeat", operation_id="heartbeat", role=None, response={"type": "string"}, tag="gateway")
def heartbeat(request) -> str:
    """Liveness probe: answers "ACK"."""
    return "ACK"


class OpenApiJson(OpenApiJsonRenderer):
    media_type = "application/json"


class OpenApiDocument(SpectacularAPIView):
    """``/openapi.json``: the OpenAPI 3 document, always as ``application/json``."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [OpenApiJson]

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SwaggerDocs(SpectacularSwaggerView):
    """``/docs``: Swagger UI, served from DLM's own static files."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    url_name = "openapi"

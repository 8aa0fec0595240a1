"""``GET /metrics``: DLM's metrics in the Prometheus text format (``events.metrics``).

Open to the trusted networks (``DLM_TRUSTED_NETWORKS``, no credentials) and to a bearer token of
any role; anyone else gets 401."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.roles import Role, role_permission
from events.metrics import exposition


class MetricsView(APIView):
    """Prometheus scrapes this; the figures are read when it asks."""

    permission_classes: list[type[BasePermission]] = [role_permission(Role.VIEWER)]

    @extend_schema(exclude=True)  # not a ska-dlm operation: kept out of the contract's document
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)

"""How API callers prove who they are.

* ``Authorization: Bearer <token>``: a DLM API token (random, stored hashed, with an expiry).
* No header at all, from an address in ``DLM_TRUSTED_NETWORKS``: the account mapped to that
  network (ska-dlm-client calls the services this way from inside a trusted network). Only the
  socket's peer address counts; forwarded-for headers are ignored, since any client can set them.
"""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

log = logging.getLogger("dlm.auth")


class BearerTokenAuthentication(TokenAuthentication):
    """DLM API tokens, sent as ``Authorization: Bearer <token>``.

    Any other scheme, or a malformed header, is refused rather than ignored: a client that sent
    credentials must learn that they were not accepted.
    """

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != b"bearer":
            raise exceptions.AuthenticationFailed("Authorization header must use the Bearer scheme.")
        return super().authenticate(request)

    def authenticate_header(self, request) -> str:
        return "Bearer"


class TrustedNetworkAuthentication(BaseAuthentication):
    """Requests without credentials from a trusted network act as that network's account."""

    def authenticate(self, request):
        if not settings.TRUSTED_NETWORKS or get_authorization_header(request):
            return None
        try:
            address = ipaddress.ip_address(request._request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return None
        for network, username in settings.TRUSTED_NETWORKS:
            if address in network:
                user = get_user_model().objects.filter(username=username, is_active=True).first()
                if user is None:
                    log.warning("DLM_TRUSTED_NETWORKS names account %r, which does not exist", username)
                    return None
                return (user, None)
        return None


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "dlm.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A DLM API token"}


class TrustedNetworkScheme(OpenApiAuthenticationExtension):
    target_class = "dlm.authentication.TrustedNetworkAuthentication"
    name = "trustedNetwork"
    priority = -1

    def get_security_definition(self, auto_schema):
        # OpenAPI has no scheme for "by client address"; describe it as a header-less API key.
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-DLM-Trusted-Network",
            "description": "No credentials, from an address listed in DLM_TRUSTED_NETWORKS (header not read).",
        }

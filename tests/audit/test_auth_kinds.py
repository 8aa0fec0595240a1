"""The trail says how the actor of an API call proved who they are."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import Client

from accounts import oidc
from core.env import TrustedNetwork
from tests.audit.conftest import records
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def test_an_api_token(operator_api):
    operator_api.post("/ingest/init_data_item", {"item_name": "by-token"})
    [record] = records()
    assert (record.auth, record.username, record.operation) == ("token", "operator-user", "init_data_item")


def test_a_trusted_network_without_credentials(settings):
    settings.TRUSTED_NETWORKS = [TrustedNetwork(ipaddress.ip_network("10.0.0.0/8"), "svc-dlm-client", "operator")]

    response = Client().post(
        "/ingest/init_data_item?item_name=from-client", content_type="application/json", REMOTE_ADDR="10.1.2.3"
    )

    assert response.status_code == 200, response.content
    [record] = records(object_type="data_item")
    assert (record.auth, record.username, record.remote_addr) == ("trusted-network", "svc-dlm-client", "10.1.2.3")


@pytest.fixture
def provider(settings, oidc_provider):
    """DLM taking the loopback OpenID provider's access tokens as Bearer tokens."""
    settings.OIDC_ENABLED = True
    settings.DLM_OIDC_ISSUER = oidc_provider.issuer.rstrip("/")
    for name in ("AUTHORIZATION", "TOKEN", "USER", "JWKS"):
        setattr(settings, f"OIDC_OP_{name}_ENDPOINT", "")
    settings.OIDC_RP_CLIENT_ID = oidc_provider.client_id
    settings.OIDC_RP_CLIENT_SECRET = oidc_provider.client_secret
    settings.DLM_OIDC_ROLE_MAP = {"dlm-viewers": "viewer", "dlm-operators": "operator", "dlm-admins": "admin"}
    oidc._discovery = oidc._jwks_client = None
    oidc.forget_provider_tokens()
    yield oidc_provider
    oidc._discovery = oidc._jwks_client = None
    oidc.forget_provider_tokens()


def test_an_access_token_of_the_openid_provider(provider):
    token = provider.password_token("bob")["access_token"]  # bob is in dlm-admins

    response = Api(Client(), token).post(
        "/storage/init_location", {"location_name": "by-jwt", "location_type": "local-dev"}
    )

    assert response.status_code == 200, response.content
    [record] = records(object_type="location")
    assert (record.auth, record.username, record.via) == ("oidc-token", "bob", "api")
    assert token not in str(record.changes)

"""API tokens and the trusted-network account."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from accounts.roles import Role
from accounts.tokens import account_ensure, api_token_create
from catalogue.models import DataItem
from core.env import TrustedNetwork, env_trusted_networks
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def test_request_without_token_is_401_with_bearer_challenge(anon_api):
    response = anon_api.get("/storage/query_storage")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "detail" in response.json()


def test_valid_token_is_accepted(viewer_api):
    assert viewer_api.get("/storage/query_storage").status_code == 200


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Token abc", "Bearer", "Bearer a b"])
def test_bad_authorization_header_is_401(header):
    response = Client().get("/storage/query_storage", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_expired_token_is_401():
    user = account_ensure(username="old", role=Role.VIEWER)
    row, token = api_token_create(user=user, ttl=timedelta(days=1))
    AuthToken.objects.filter(pk=row.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert Api(Client(), token).get("/storage/query_storage").status_code == 401


def test_revoked_token_is_401_and_other_tokens_of_the_user_still_work():
    user = account_ensure(username="two-tokens", role=Role.VIEWER)
    row, revoked = api_token_create(user=user)
    _, kept = api_token_create(user=user)
    row.delete()
    assert Api(Client(), revoked).get("/storage/query_storage").status_code == 401
    assert Api(Client(), kept).get("/storage/query_storage").status_code == 200


def test_inactive_account_token_is_401():
    user = account_ensure(username="gone", role=Role.ADMIN)
    _, token = api_token_create(user=user)
    user.is_active = False
    user.save()
    assert Api(Client(), token).get("/storage/query_storage").status_code == 401


def test_tokens_are_stored_hashed():
    user = account_ensure(username="hashed", role=Role.VIEWER)
    _, token = api_token_create(user=user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM knox_authtoken")
        raw = repr(cursor.fetchall())
    assert token not in raw
    assert token[15:] not in raw  # beyond the lookup prefix nothing of the token is stored


def test_create_api_token_prints_a_working_token_last(capsys):
    call_command("create_api_token", "script-user", "--role", "operator")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    api = Api(Client(), token)
    response = api.post("/ingest/init_data_item", {"item_name": "made-by-script"})
    assert response.status_code == 200
    assert DataItem.objects.get(uid=response.json()).item_owner == "script-user"
    assert api.post("/storage/init_location", {"location_name": "x", "location_type": "local-dev"}).status_code == 403


def test_create_api_token_role_replaces_the_previous_role(capsys):
    call_command("create_api_token", "demoted", "--role", "admin")
    call_command("create_api_token", "demoted", "--role", "viewer")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert Api(Client(), token).post("/ingest/init_data_item", {"item_name": "x"}).status_code == 403


# --- trusted networks -----------------------------------------------------------------------


@pytest.fixture
def trusted(settings):
    # What a ska-dlm-client deployment sets: DLM_TRUSTED_NETWORKS=10.0.0.0/8=svc-dlm-client:operator
    settings.TRUSTED_NETWORKS = [TrustedNetwork(ipaddress.ip_network("10.0.0.0/8"), "svc-dlm-client", "operator")]


def test_trusted_network_without_token_acts_as_its_account(trusted):
    response = Client().post(
        "/ingest/init_data_item?item_name=from-client", content_type="application/json", REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 200
    assert DataItem.objects.get(uid=response.json()).item_owner == "svc-dlm-client"


def test_other_addresses_without_token_are_401(trusted):
    response = Client().post("/ingest/init_data_item?item_name=x", REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 401
    assert not DataItem.objects.exists()


def test_forwarded_for_header_does_not_make_a_trusted_client(trusted):
    response = Client().get("/storage/query_storage", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert response.status_code == 401


def test_bad_token_from_a_trusted_network_is_still_401(trusted):
    response = Client().get("/storage/query_storage", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401


def test_trusted_account_keeps_its_role_limits(trusted):
    response = Client().post("/storage/init_location?location_name=x&location_type=local-dev", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


def test_trusted_network_role_is_viewer_by_default_whatever_the_accounts_groups(settings, monkeypatch):
    account_ensure(username="svc-dlm-client", role=Role.ADMIN)
    monkeypatch.setenv("DLM_TRUSTED_NETWORKS_FOR_TEST", "10.0.0.0/8=svc-dlm-client")
    settings.TRUSTED_NETWORKS = env_trusted_networks("DLM_TRUSTED_NETWORKS_FOR_TEST", default_role="viewer")
    assert Client().get("/storage/query_storage", REMOTE_ADDR="10.1.2.3").status_code == 200
    response = Client().post("/ingest/init_data_item?item_name=x", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403 and "operator" in response.json()["detail"]
    assert not DataItem.objects.exists()


def test_trusted_network_account_is_created_on_first_use(trusted):
    assert not User.objects.filter(username="svc-dlm-client").exists()
    response = Client().post(
        "/ingest/init_data_item?item_name=first", content_type="application/json", REMOTE_ADDR="10.9.9.9"
    )
    assert response.status_code == 200
    assert User.objects.filter(username="svc-dlm-client").count() == 1


def test_trusted_network_with_a_deactivated_account_is_401(trusted):
    User.objects.create(username="svc-dlm-client", is_active=False)
    assert Client().get("/storage/query_storage", REMOTE_ADDR="10.1.2.3").status_code == 401


def test_no_trusted_networks_by_default(settings):
    assert env_trusted_networks("DLM_TRUSTED_NETWORKS_UNSET_FOR_TEST", default_role="viewer") == []
    account_ensure(username="svc-dlm-client", role=Role.OPERATOR)
    settings.TRUSTED_NETWORKS = []
    assert Client().get("/storage/query_storage", REMOTE_ADDR="127.0.0.1").status_code == 401


def test_a_used_token_is_refused_at_once_after_revocation():
    user = account_ensure(username="remembered", role=Role.VIEWER)
    row, token = api_token_create(user=user)
    api = Api(Client(), token)
    assert api.get("/storage/query_storage").status_code == 200  # now remembered by this process
    row.delete()
    assert api.get("/storage/query_storage").status_code == 401


def test_a_role_change_applies_at_once_to_a_used_token():
    user = account_ensure(username="promoted", role=Role.VIEWER)
    api = Api(Client(), api_token_create(user=user)[1])
    assert api.post("/ingest/init_data_item", {"item_name": "x"}).status_code == 403
    account_ensure(username="promoted", role=Role.OPERATOR)
    assert api.post("/ingest/init_data_item", {"item_name": "x"}).status_code == 200


def test_deactivating_an_account_refuses_its_used_token_at_once():
    user = account_ensure(username="leaver", role=Role.VIEWER)
    api = Api(Client(), api_token_create(user=user)[1])
    assert api.get("/storage/query_storage").status_code == 200
    user.is_active = False
    user.save()
    assert api.get("/storage/query_storage").status_code == 401


def test_a_used_token_that_expires_is_refused(settings):
    user = account_ensure(username="short-lived", role=Role.VIEWER)
    row, token = api_token_create(user=user)
    api = Api(Client(), token)
    assert api.get("/storage/query_storage").status_code == 200
    from accounts.authentication import _TOKENS

    for _, cached_row, _ in _TOKENS.values():  # the remembered row carries the expiry it was read with
        if cached_row.pk == row.pk:
            cached_row.expiry = timezone.now() - timedelta(seconds=1)
    assert api.get("/storage/query_storage").status_code == 401
    assert not AuthToken.objects.filter(pk=row.pk).exists()

"""``DLM_TRUSTED_NETWORKS``: a role for each network, read from NETWORK=ROLE, NETWORK=ACCOUNT:ROLE
or NETWORK=ACCOUNT entries; the most specific network holding the client applies."""

from __future__ import annotations

import ipaddress

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from accounts.authentication import trusted_network_of
from accounts.roles import Role
from accounts.tokens import account_ensure, api_token_create
from audit.models import AuditRecord
from catalogue.models import DataItem, Location
from core.env import TRUSTED_NETWORK_ACCOUNT, TrustedNetwork, env_trusted_networks
from tests.factories import make_storage

VAR = "DLM_TRUSTED_NETWORKS_FOR_TEST"


def _parse(monkeypatch, value: str, default_role: str = "viewer") -> list[TrustedNetwork]:
    monkeypatch.setenv(VAR, value)
    return env_trusted_networks(VAR, default_role=default_role)


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


# --- reading the variable ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # NETWORK=ACCOUNT, as before: the account, with DLM_TRUSTED_NETWORK_ROLE.
        ("10.0.0.0/8=svc-dlm-client", [("10.0.0.0/8", "svc-dlm-client", "viewer")]),
        # NETWORK=ROLE: the role, as the default account; a role name is never an account name.
        ("10.0.0.0/8=operator", [("10.0.0.0/8", TRUSTED_NETWORK_ACCOUNT, "operator")]),
        ("10.0.0.0/8=Admin", [("10.0.0.0/8", TRUSTED_NETWORK_ACCOUNT, "admin")]),
        # NETWORK=ACCOUNT:ROLE, also the way to name an account called like a role.
        ("10.0.0.0/8=svc-dlm-client:operator", [("10.0.0.0/8", "svc-dlm-client", "operator")]),
        ("10.0.0.0/8=admin:viewer", [("10.0.0.0/8", "admin", "viewer")]),
        ("10.0.0.0/8=svc@example.org:OPERATOR", [("10.0.0.0/8", "svc@example.org", "operator")]),
        # Spaces around the parts, blank items, a bare address, host bits.
        (" 10.0.0.0/8 = svc : operator , ,", [("10.0.0.0/8", "svc", "operator")]),
        ("127.0.0.1=admin", [("127.0.0.1/32", TRUSTED_NETWORK_ACCOUNT, "admin")]),
        ("10.1.2.3/8=svc", [("10.0.0.0/8", "svc", "viewer")]),
        # IPv6, whose networks hold colons of their own.
        ("fd00::/8=operator", [("fd00::/8", TRUSTED_NETWORK_ACCOUNT, "operator")]),
        ("::1=svc:admin", [("::1/128", "svc", "admin")]),
        ("2001:db8::/32=svc-dlm-client", [("2001:db8::/32", "svc-dlm-client", "viewer")]),
        # Several, kept in the order given (the most specific one applies, whatever the order).
        (
            "10.0.0.0/8=operator,127.0.0.1/32=admin,10.2.0.0/16=svc-dlm-client:operator",
            [
                ("10.0.0.0/8", TRUSTED_NETWORK_ACCOUNT, "operator"),
                ("127.0.0.1/32", TRUSTED_NETWORK_ACCOUNT, "admin"),
                ("10.2.0.0/16", "svc-dlm-client", "operator"),
            ],
        ),
        ("", []),
    ],
)
def test_each_form_of_entry_is_read(monkeypatch, value, expected):
    assert _parse(monkeypatch, value) == [TrustedNetwork(_net(n), account, role) for n, account, role in expected]


def test_an_account_entry_takes_the_default_role_and_a_role_entry_does_not(monkeypatch):
    entries = _parse(monkeypatch, "10.1.0.0/16=svc,10.2.0.0/16=viewer,10.3.0.0/16=svc:viewer", default_role="operator")
    assert [entry.role for entry in entries] == ["operator", "viewer", "viewer"]


@pytest.mark.parametrize(
    ("value", "entry"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("=svc", "=svc"),
        ("10.0.0.0/8=", "10.0.0.0/8="),
        ("ten-net=svc", "ten-net=svc"),
        ("10.0.0.0/33=svc", "10.0.0.0/33=svc"),
        ("fd00::/129=operator", "fd00::/129=operator"),
        ("10.0.0.0/8=svc:superuser", "10.0.0.0/8=svc:superuser"),
        ("10.0.0.0/8=svc:", "10.0.0.0/8=svc:"),
        ("10.0.0.0/8=svc:operator:admin", "10.0.0.0/8=svc:operator:admin"),
        ("10.0.0.0/8=:operator", "10.0.0.0/8=:operator"),
        ("10.0.0.0/8=two words", "10.0.0.0/8=two words"),
        ("10.0.0.0/8=" + "a" * 151, "10.0.0.0/8=" + "a" * 151),
        ("10.0.0.0/8=operator,127.0.0.1/32=sup€r:admin", "127.0.0.1/32=sup€r:admin"),
        ("10.0.0.0/8=a,10.0.0.0/8=b:admin", "10.0.0.0/8=b:admin"),  # the same network twice
        ("10.0.0.0/8=a,10.9.9.9/8=b", "10.9.9.9/8=b"),  # the same network, written with host bits
    ],
)
def test_a_bad_entry_is_refused_naming_the_variable_and_the_entry(monkeypatch, value, entry):
    with pytest.raises(ImproperlyConfigured) as refused:
        _parse(monkeypatch, value)
    assert str(refused.value).startswith(f"{VAR}: entry {entry!r}")


# --- which network a client is in ----------------------------------------------------------------

NESTED = [
    TrustedNetwork(_net("10.0.0.0/8"), "wide", "viewer"),
    TrustedNetwork(_net("10.1.0.0/16"), "middle", "operator"),
    TrustedNetwork(_net("10.1.2.0/24"), "narrow", "admin"),
    TrustedNetwork(_net("fd00::/8"), "six", "operator"),
    TrustedNetwork(_net("fd00:1::/32"), "six-narrow", "admin"),
]


@pytest.mark.parametrize("networks", [NESTED, NESTED[::-1]], ids=["widest first", "narrowest first"])
@pytest.mark.parametrize(
    ("address", "account"),
    [
        ("10.1.2.3", "narrow"),
        ("10.1.9.9", "middle"),
        ("10.9.9.9", "wide"),
        ("11.0.0.1", None),
        ("fd00::5", "six"),
        ("fd00:1::5", "six-narrow"),
        ("fe80::1", None),
        ("::ffff:10.1.2.3", "narrow"),  # an IPv4 client as a dual-stack socket reports it
        ("", None),
        ("not-an-address", None),
    ],
)
def test_the_most_specific_network_holding_the_client_applies(networks, address, account):
    found = trusted_network_of(address, networks)
    assert (found.account if found else None) == account


# --- what requests from each network may do ---------------------------------------------------------

VIEWER_NET, OPERATOR_NET, ADMIN_NET, SIX_NET, OUTSIDE = "10.1.0.9", "10.2.0.9", "10.3.0.9", "fd00::9", "192.0.2.7"


@pytest.fixture
def networks(settings, monkeypatch):
    """A viewer network holding an operator network for ska-dlm-client, an admin network, and an
    IPv6 operator network; NETWORK=ACCOUNT entries get operator."""
    settings.TRUSTED_NETWORKS = _parse(
        monkeypatch,
        "10.0.0.0/8=viewer,10.2.0.0/16=svc-dlm-client:operator,10.3.0.0/16=admin,fd00::/8=svc-six",
        default_role="operator",
    )


@pytest.fixture
def storage(db):
    return make_storage(storage_name="watched")


def _query(address: str, **meta):
    return Client().get("/storage/query_storage", REMOTE_ADDR=address, **meta)


def _register(address: str, name: str = "from-client", **meta):
    url = f"/ingest/register_data_item?item_name={name}&uri={name}&storage_name=watched&do_storage_access_check=false"
    return Client().post(url, content_type="application/json", REMOTE_ADDR=address, **meta)


def _init_location(address: str, name: str = "from-client", **meta):
    url = f"/storage/init_location?location_name={name}&location_type=local-dev"
    return Client().post(url, REMOTE_ADDR=address, **meta)


@pytest.mark.django_db
def test_a_viewer_network_may_query_but_not_register(networks, storage):
    assert _query(VIEWER_NET).status_code == 200

    response = _register(VIEWER_NET)

    assert response.status_code == 403
    assert "operator" in response.json()["detail"]
    assert not DataItem.objects.exists()


@pytest.mark.django_db
def test_an_operator_network_may_register_as_its_account_but_not_create_locations(networks, storage):
    response = _register(OPERATOR_NET)

    assert response.status_code == 200, response.content
    assert DataItem.objects.get(uid=response.json()).item_owner == "svc-dlm-client"
    refused = _init_location(OPERATOR_NET)
    assert refused.status_code == 403
    assert "admin" in refused.json()["detail"]
    assert not Location.objects.filter(location_name="from-client").exists()


@pytest.mark.django_db
def test_an_admin_network_may_create_locations(networks):
    response = _init_location(ADMIN_NET)

    assert response.status_code == 200, response.content
    assert Location.objects.filter(location_name="from-client").exists()
    assert User.objects.filter(username=TRUSTED_NETWORK_ACCOUNT).count() == 1


@pytest.mark.django_db
def test_an_account_entry_gets_the_default_role_over_ipv6_and_ipv4_mapped(networks, storage):
    response = _register(SIX_NET, "six")
    assert response.status_code == 200, response.content
    assert DataItem.objects.get(uid=response.json()).item_owner == "svc-six"
    assert _init_location(SIX_NET).status_code == 403
    assert _init_location("::ffff:10.3.0.9").status_code == 200  # the admin IPv4 network


@pytest.mark.django_db
def test_the_networks_role_applies_whatever_the_accounts_groups_or_superuser_flag(settings, monkeypatch, storage):
    User.objects.create_superuser(username="root", password="x")
    account_ensure(username="svc-dlm-client", role=Role.ADMIN)
    settings.TRUSTED_NETWORKS = _parse(monkeypatch, "10.1.0.0/16=root:viewer,10.2.0.0/16=svc-dlm-client:operator")

    assert _init_location("10.1.0.9", "by-root").status_code == 403
    assert _register("10.1.0.9").status_code == 403
    assert _init_location("10.2.0.9", "by-client").status_code == 403
    assert not Location.objects.filter(location_name__startswith="by-").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("address", [VIEWER_NET, OPERATOR_NET, ADMIN_NET, SIX_NET])
def test_a_request_with_an_authorization_header_is_never_trusted(networks, storage, address):
    viewer = account_ensure(username="token-viewer", role=Role.VIEWER)
    _, token = api_token_create(user=viewer)

    for header in ("Bearer not-a-token", "Basic c3ZjOng=", "", "Bearer"):
        assert _query(address, HTTP_AUTHORIZATION=header).status_code == 401, header
    # A valid token is judged as the token's account, with its role: a viewer's.
    assert _query(address, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert _register(address, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    assert _init_location(address, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    assert not DataItem.objects.exists()
    assert not Location.objects.filter(location_name="from-client").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("address", [OUTSIDE, "11.0.0.1", "fe80::1", "::ffff:192.0.2.7", ""])
def test_an_address_outside_every_network_is_401(networks, storage, address):
    assert _query(address).status_code == 401
    assert _register(address).status_code == 401
    assert _query(address, HTTP_X_FORWARDED_FOR=ADMIN_NET, HTTP_X_REAL_IP=ADMIN_NET).status_code == 401
    assert not DataItem.objects.exists()


@pytest.mark.django_db
def test_the_audit_trail_names_each_networks_account(networks, storage):
    assert _register(OPERATOR_NET).status_code == 200
    assert _init_location(ADMIN_NET).status_code == 200

    shown = {
        (record.object_type, record.auth, record.username, record.remote_addr)
        for record in AuditRecord.objects.filter(object_type__in=["data_item", "location"])
    }
    assert shown == {
        ("data_item", "trusted-network", "svc-dlm-client", OPERATOR_NET),
        ("location", "trusted-network", TRUSTED_NETWORK_ACCOUNT, ADMIN_NET),
    }

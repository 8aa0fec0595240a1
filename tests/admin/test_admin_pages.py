"""Every page of the admin console renders for an account with the DLM admin role, and for nobody
else: operators, viewers and mere staff get 403, anonymous visitors the login page."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.admin_site import CappedCountPaginator
from accounts.roles import Role
from accounts.tokens import account_ensure
from catalogue.models import DataItem, StorageConfig
from tests.admin.conftest import SEEDED_SECRET
from tests.factories import make_item, make_storage

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _pages(model, obj) -> dict[str, str]:
    pk = quote(obj.pk)
    return {
        "changelist": _url(model, "changelist"),
        "add": _url(model, "add"),
        "change": _url(model, "change", pk),
        "history": _url(model, "history", pk),
        "delete": _url(model, "delete", pk),
    }


def test_every_model_of_the_catalogue_jobs_accounts_and_queue_is_registered():
    labels = {model._meta.label for model in REGISTERED}
    assert {
        "catalogue.LocationFacility",
        "catalogue.Location",
        "catalogue.Storage",
        "catalogue.StorageConfig",
        "catalogue.DataItem",
        "migrations_app.Migration",
        "knox.AuthToken",
        "dlm.ProviderIdentity",
        "auth.User",
        "auth.Group",
        "django_q.Schedule",
        "django_q.Failure",
    } <= labels


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_every_admin_page_renders_for_an_admin_and_shows_no_secret(admin_client, seeded, model):
    obj = model._default_manager.first()
    assert obj is not None, f"seed a {model._meta.label} in tests/admin/conftest.py"
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    request.user = seeded["admin"]
    expected = {
        "changelist": 200,
        "change": 200,
        "history": 200,
        "add": 200 if model_admin.has_add_permission(request) else 403,
        "delete": 200 if model_admin.has_delete_permission(request, obj) else 403,
    }

    for page, url in _pages(model, obj).items():
        response = admin_client.get(url)
        assert response.status_code == expected[page], (page, url, response.content[:500])
        assert SEEDED_SECRET not in response.content.decode(), (page, url)


def test_the_index_lists_every_registered_model_for_an_admin(admin_client):
    page = admin_client.get("/admin/").content.decode()
    for model in REGISTERED:
        assert _url(model, "changelist") in page, model._meta.label


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_operators_and_viewers_are_refused_every_page(as_role, seeded, role):
    client = as_role(role)
    for model in REGISTERED:
        for page, url in _pages(model, model._default_manager.first()).items():
            response = client.get(url)
            assert response.status_code == 403, (role, page, url)
            assert "needs the DLM <strong>admin</strong> role" in response.content.decode()
            assert SEEDED_SECRET not in response.content.decode()
    index = client.get("/admin/")
    assert index.status_code == 403 and "Storage configs" not in index.content.decode()


def test_a_refused_account_cannot_change_anything_either(as_role, seeded):
    storage = seeded["storage"]
    response = as_role("operator").post(
        _url(type(storage), "changelist"), {"action": "check_access", "_selected_action": [storage.pk]}
    )
    assert response.status_code == 403
    storage.refresh_from_db()
    assert storage.storage_last_checked is None


def test_staff_without_the_admin_role_is_refused(db):
    staff = get_user_model().objects.create_user("sam", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/catalogue/storage/").status_code == 403


def test_a_superuser_counts_as_an_admin(db):
    root = get_user_model().objects.create_superuser("root", "root@example.org", "Root-Pa55word")
    client = Client()
    client.force_login(root)
    assert client.get("/admin/catalogue/storageconfig/").status_code == 200


def test_anonymous_visitors_are_sent_to_the_login_page(db, seeded):
    client = Client()
    for model in REGISTERED:
        url = _url(model, "changelist")
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/admin/login/?next={url}"


def test_the_admin_login_admits_the_admin_role_and_refuses_the_others(db):
    for username, role in (("ada", Role.ADMIN), ("otto", Role.OPERATOR)):
        user = account_ensure(username=username, role=role)
        user.set_password("Pa55-word-long")
        user.save()
    login = Client().get("/admin/login/")
    assert login.status_code == 200 and 'href="/login?next=/admin/"' in login.content.decode()

    admin_browser, operator_browser = Client(), Client()
    admitted = admin_browser.post("/admin/login/?next=/admin/", {"username": "ada", "password": "Pa55-word-long"})
    refused = operator_browser.post("/admin/login/?next=/admin/", {"username": "otto", "password": "Pa55-word-long"})

    assert admitted.status_code == 302 and admin_browser.get("/admin/").status_code == 200
    assert refused.status_code == 200 and "does not hold the DLM admin role" in refused.content.decode()
    assert operator_browser.get("/admin/").status_code == 302  # not logged in by the admin's form


def test_dlm_login_page_leads_an_admin_into_the_console(db):
    user = account_ensure(username="ada", role=Role.ADMIN)
    user.set_password("Pa55-word-long")
    user.save()
    browser = Client()
    response = browser.post("/login?next=/admin/", {"username": "ada", "password": "Pa55-word-long"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200


def test_the_account_list_shows_each_accounts_role(admin_client):
    account_ensure(username="olga", role=Role.OPERATOR)
    account_ensure(username="vic", role=Role.VIEWER)
    account_ensure(username="nobody")

    page = admin_client.get("/admin/auth/user/").content.decode()
    operators = admin_client.get("/admin/auth/user/", {"role": "operator"}).content.decode()

    rows = {
        name: re.search(rf">{name}</a></th>(.*?)</tr>", page, re.S).group(1)
        for name in ("ada", "olga", "vic", "nobody")
    }
    assert 'class="field-dlm_role">admin<' in rows["ada"]
    assert 'class="field-dlm_role">operator<' in rows["olga"]
    assert 'class="field-dlm_role">viewer<' in rows["vic"]
    assert 'class="field-dlm_role">-<' in rows["nobody"]
    assert ">olga</a>" in operators and ">vic</a>" not in operators


def test_tokens_are_shown_by_their_key_never_by_their_digest(admin_client, seeded):
    token = seeded["token"]
    listing = admin_client.get("/admin/knox/authtoken/").content.decode()
    detail = admin_client.get(_url(type(token), "change", token.digest)).content.decode()

    assert token.token_key in listing and "seeded token" in listing
    for page in (listing, detail):
        # Only the row's address carries knox's key: no text shows it.
        shown = re.sub(r'(href|value|action)="[^"]*"', "", page)
        assert token.digest not in shown


def test_storage_page_links_to_its_configs_items_and_jobs(admin_client, seeded):
    storage = seeded["storage"]
    page = admin_client.get(_url(type(storage), "change", storage.pk)).content.decode()
    for link in (
        f"/admin/catalogue/storageconfig/?storage__storage_id__exact={storage.pk}",
        f"/admin/catalogue/dataitem/?storage__storage_id__exact={storage.pk}",
        f"/admin/migrations_app/migration/?source_storage__storage_id__exact={storage.pk}",
    ):
        assert link in page
        assert admin_client.get(link).status_code == 200


def test_lists_cost_the_same_few_queries_for_many_rows(admin_client, seeded, django_assert_max_num_queries):
    storage = make_storage()
    for _ in range(30):
        make_item(storage)
    for url in (
        "/admin/catalogue/dataitem/",
        "/admin/catalogue/storage/",
        "/admin/catalogue/storageconfig/",
        "/admin/migrations_app/migration/",
        "/admin/knox/authtoken/",
        "/admin/auth/user/",
        "/admin/dlm/provideridentity/",
    ):
        with django_assert_max_num_queries(12):
            assert admin_client.get(url).status_code == 200, url


def test_the_item_list_never_counts_the_whole_table(admin_client, seeded, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 5)
    storage = make_storage()
    items = [make_item(storage, item_name=f"run-7/file-{n}") for n in range(8)]

    with CaptureQueriesContext(connection) as queries:
        listing = admin_client.get("/admin/catalogue/dataitem/")
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]

    assert listing.status_code == 200
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts
    assert "More than 5" in listing.content.decode()
    by_prefix = admin_client.get("/admin/catalogue/dataitem/", {"q": "run-7/"}).content.decode()
    by_uid = admin_client.get("/admin/catalogue/dataitem/", {"q": str(items[3].uid)}).content.decode()
    assert by_prefix.count("run-7/file-") >= 5
    assert by_uid.count('class="field-item_name"') == 1 and "run-7/file-3" in by_uid


def test_item_identity_and_location_are_read_only(admin_client, seeded):
    item = seeded["item"]
    page = admin_client.get(_url(DataItem, "change", item.pk)).content.decode()
    for name in ("uid", "oid", "storage", "uri", "item_size", "hashes"):
        assert f'name="{name}"' not in page
    assert 'name="item_state"' in page


def test_stored_config_list_needs_no_decryption(admin_client, seeded, settings):
    from cryptography.fernet import Fernet

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key()]  # the stored secrets became unreadable
    listing = admin_client.get("/admin/catalogue/storageconfig/")
    config = seeded["config"]
    detail = admin_client.get(_url(StorageConfig, "change", config.pk))
    assert listing.status_code == 200
    assert detail.status_code == 200 and "Unreadable" in detail.content.decode()


def test_a_storage_holding_items_is_not_deleted_and_its_items_are_not_listed(admin_client, seeded):
    storage = seeded["storage"]
    url = _url(type(storage), "delete", storage.pk)

    page = admin_client.get(url).content.decode()
    refused = admin_client.post(url, {"post": "yes"})

    assert f"{storage.storage_name}: it holds data items or copy jobs" in page
    assert str(seeded["item"].uid) not in page
    assert refused.status_code == 200 and type(storage).objects.filter(pk=storage.pk).exists()


def test_an_empty_storage_can_be_deleted(admin_client):
    storage = make_storage()
    url = _url(type(storage), "delete", storage.pk)
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not type(storage).objects.filter(pk=storage.pk).exists()

"""Locations and storages in the web UI: the lists and pages, the access check, and the admin
forms that create locations, storages and rclone remotes (through the API's services, with the
API's messages, and nothing written when they refuse)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from accounts.tokens import account_ensure
from catalogue.models import Location, Storage, StorageConfig
from catalogue.services import storage_config_create
from core.secrets import join_secrets
from migrations_app.states import JobState
from tests.factories import make_copy_job, make_item, make_location, make_storage
from tests.storage_servers import _free_port


@pytest.fixture(autouse=True)
def fresh_figures():
    """Storage figures are cached per process: each test starts without them."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def viewer(make_ui_client) -> Client:
    return make_ui_client("viewer")


@pytest.fixture
def operator(make_ui_client) -> Client:
    return make_ui_client("operator")


@pytest.fixture
def admin(make_ui_client) -> Client:
    return make_ui_client("admin")


@pytest.fixture
def short_rclone_timeout(settings):
    """rclone retries a closed port for longer than its 30 s default timeout: give up sooner."""
    settings.DLM_RCLONE_TIMEOUT = 4


def text_of(response) -> str:
    return response.content.decode()


def field_errors(html: str, field: str) -> str:
    """The error list shown beside one field (tied to its input by id)."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


def error_summary(html: str) -> str:
    match = re.search(r'<div class="error-summary" role="alert"[^>]*>(.*?)</div>', html, re.S)
    return match.group(1) if match else ""


def followed_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- who may see what -------------------------------------------------------------------------

VIEWER_PAGES = ["/locations", "/locations/{location}", "/storages", "/storages/{storage}"]
ADMIN_PAGES = ["/locations/new", "/storages/new", "/storages/{storage}/configs/new"]


@pytest.fixture
def place(db) -> dict[str, str]:
    storage = make_storage(storage_name="acacia")
    return {"location": str(storage.location_id), "storage": str(storage.storage_id)}


@pytest.mark.parametrize("page", VIEWER_PAGES + ADMIN_PAGES)
def test_anonymous_is_sent_to_the_login_page_and_back(anon_client, place, page):
    url = page.format(**place)

    response = anon_client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/login?next={url}"


@pytest.mark.parametrize("page", VIEWER_PAGES)
def test_an_account_without_a_role_gets_403_naming_the_viewer_role(make_ui_client, place, page):
    response = make_ui_client(None).get(page.format(**place))

    assert response.status_code == 403
    assert "<strong>viewer</strong> role" in text_of(response)


@pytest.mark.parametrize("page", VIEWER_PAGES)
@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_sees_the_lists_and_pages(make_ui_client, place, page, role):
    assert make_ui_client(role).get(page.format(**place)).status_code == 200


@pytest.mark.parametrize("page", ADMIN_PAGES)
@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_the_forms_need_the_admin_role(make_ui_client, place, page, role):
    url = page.format(**place)
    client = make_ui_client(role)

    for response in (client.get(url), client.post(url, {"location_name": "x", "storage_name": "x", "name": "x"})):
        assert response.status_code == 403
        assert "<strong>admin</strong> role" in text_of(response)
    assert Location.objects.count() == 1
    assert Storage.objects.count() == 1
    assert StorageConfig.objects.count() == 0


def test_buttons_for_changes_show_only_to_the_roles_that_may_use_them(make_ui_client, place):
    storage_page = "/storages/{storage}".format(**place)
    viewer, operator, admin = (make_ui_client(role) for role in ("viewer", "operator", "admin"))

    assert "/locations/new" not in text_of(viewer.get("/locations"))
    assert "Check access now" not in text_of(viewer.get(storage_page))
    assert "configs/new" not in text_of(operator.get(storage_page))
    assert "Check access now" in text_of(operator.get(storage_page))
    assert '<a class="button" href="/locations/new">' in text_of(admin.get("/locations"))
    assert '<a class="button" href="/storages/new">' in text_of(admin.get("/storages"))
    assert f"/storages/{place['storage']}/configs/new" in text_of(admin.get(storage_page))


@pytest.mark.parametrize("page", ["/locations/{id}", "/storages/{id}", "/storages/{id}/configs/new"])
def test_an_unknown_id_is_an_html_404_page(admin, page):
    response = admin.get(page.format(id=uuid.uuid4()))

    assert response.status_code == 404
    assert "<h1>No such" in text_of(response)


# --- locations --------------------------------------------------------------------------------


def test_the_locations_list_shows_each_location_with_its_storage_count(viewer):
    pawsey = make_location(location_name="Pawsey", location_type="low-operations", location_city="Perth")
    make_location(location_name="Cape Town", location_type="mid-operations", location_country="ZA")
    make_storage(pawsey)
    make_storage(pawsey)

    html = text_of(viewer.get("/locations"))

    row = re.search(rf'<a href="/locations/{pawsey.location_id}">Pawsey</a>(.*?)</tr>', html, re.S).group(1)
    assert "low-operations" in row and "Perth" in row
    assert re.search(r'<td class="num">2</td>', row)
    assert "Cape Town" in html and "ZA" in html


def test_a_location_page_shows_its_fields_and_storages(viewer):
    pawsey = make_location(location_name="Pawsey", location_type="low-operations", location_facility="Pawsey Centre")
    make_storage(pawsey, storage_name="acacia")
    make_storage(storage_name="elsewhere")

    html = text_of(viewer.get(f"/locations/{pawsey.location_id}"))

    assert "<h1>Location Pawsey</h1>" in html
    assert "Pawsey Centre" in html
    assert ">acacia</a>" in html
    assert "elsewhere" not in html


def test_an_admin_creates_a_location_and_is_taken_to_its_page(admin):
    response = admin.post(
        "/locations/new",
        {
            "location_name": "Pawsey",
            "location_type": "low-operations",
            "location_country": "AU",
            "location_city": "Perth",
            "location_facility": "Pawsey Centre",
        },
    )

    location = Location.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/locations/{location.location_id}"
    assert (location.location_name, location.location_type, location.location_country) == (
        "Pawsey",
        "low-operations",
        "AU",
    )
    assert (location.location_city, location.location_facility_id) == ("Perth", "Pawsey Centre")
    page = admin.get(response["Location"])
    assert followed_messages(page) == ["Location Pawsey created."]
    assert "Location Pawsey created." in text_of(page)


def test_the_location_form_has_labelled_fields_and_a_csrf_token(admin):
    html = text_of(admin.get("/locations/new"))

    assert "csrfmiddlewaretoken" in html
    for name in ("location_name", "location_type", "location_country", "location_city", "location_facility"):
        assert f'<label for="id_{name}">' in html
        assert f'id="id_{name}"' in html
    assert '<option value="Pawsey Centre">' in html  # the known facilities


def test_a_location_form_post_needs_the_csrf_token(db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(account_ensure(username="csrf-admin", role=Role.ADMIN))

    response = client.post("/locations/new", {"location_name": "X", "location_type": "local-dev"})

    assert response.status_code == 403
    assert Location.objects.count() == 0


def test_a_taken_location_name_is_refused_beside_the_name_with_the_apis_message(admin):
    make_location(location_name="Pawsey")

    response = admin.post("/locations/new", {"location_name": "Pawsey", "location_type": "local-dev"})

    html = text_of(response)
    assert response.status_code == 422
    assert "A location with this name exists already: Pawsey" in field_errors(html, "location_name")
    assert "A location with this name exists already: Pawsey" in error_summary(html)
    assert 'href="#id_location_name"' in error_summary(html)
    assert 'aria-invalid="true" aria-describedby="id_location_name_error"' in html
    assert Location.objects.count() == 1


def test_an_empty_name_gets_the_apis_message(admin):
    response = admin.post("/locations/new", {"location_name": "  ", "location_type": "local-dev"})

    assert response.status_code == 422
    assert "location_name and location_type cannot be empty" in field_errors(text_of(response), "location_name")
    assert Location.objects.count() == 0


def test_a_bad_type_and_an_unknown_facility_are_refused_beside_their_fields(admin):
    response = admin.post("/locations/new", {"location_name": "X", "location_type": "moon-base"})
    assert response.status_code == 422
    assert "Input should be &#x27;local-dev&#x27;" in field_errors(text_of(response), "location_type")

    response = admin.post(
        "/locations/new", {"location_name": "X", "location_type": "local-dev", "location_facility": "Atlantis"}
    )
    html = text_of(response)
    assert response.status_code == 422
    assert "location_facility &#x27;Atlantis&#x27; is not a known facility" in field_errors(html, "location_facility")
    assert 'value="X"' in html  # what was typed is kept
    assert Location.objects.count() == 0


def test_an_over_long_name_is_refused_and_nothing_is_written(admin):
    response = admin.post("/locations/new", {"location_name": "x" * 300, "location_type": "local-dev"})

    assert response.status_code == 422
    assert "at most 255 characters" in field_errors(text_of(response), "location_name")
    assert Location.objects.count() == 0


# --- storages: list and page ------------------------------------------------------------------


def test_the_storages_list_shows_location_type_use_reachability_and_items(viewer, django_assert_max_num_queries):
    pawsey = make_location(location_name="Pawsey")
    acacia = make_storage(
        pawsey, storage_name="acacia", storage_type="objectstore", storage_interface="s3", storage_capacity=4096
    )
    make_item(acacia, item_state="READY", item_size=1024)
    make_item(acacia, item_state="INITIALISED", item_size=2048)
    Storage.objects.filter(pk=acacia.pk).update(storage_checked=False, storage_last_checked=timezone.now())
    for _ in range(10):
        make_storage(pawsey)

    with django_assert_max_num_queries(10):
        response = viewer.get("/storages")

    html = text_of(response)
    row = re.search(rf'<a href="/storages/{acacia.storage_id}">acacia</a>(.*?)</tr>', html, re.S).group(1)
    assert ">Pawsey</a>" in row
    assert "objectstore" in row and "s3" in row
    assert 'role="progressbar"' in row and 'aria-valuenow="75"' in row
    assert "3.0 KiB of 4.0 KiB (75%)" in row
    assert "✗ unreachable" in row
    assert '<td class="num">2<span class="sub">1 ready</span></td>' in row
    assert html.count("<tr>") == 12  # the header and 11 storages


def test_a_storage_page_shows_its_fields(viewer):
    storage = make_storage(storage_name="acacia", root_directory="/askap", storage_capacity=2 * 1024**4)

    html = text_of(viewer.get(f"/storages/{storage.storage_id}"))

    assert "<h1>Storage acacia</h1>" in html
    assert "/askap" in html
    assert "2.0 TiB (2,199,023,255,552 bytes)" in html
    assert "? Never checked." in html
    assert "This storage has no rclone remote yet" in html


def test_a_storage_page_masks_every_secret_of_its_remote(admin):
    storage = make_storage(storage_name="acacia")
    secret = "SK-" + uuid.uuid4().hex + "-do-not-show"
    password = "pw-" + uuid.uuid4().hex
    config = storage_config_create(
        config={
            "name": "acacia",
            "type": "s3",
            "parameters": {
                "provider": "Ceph",
                "endpoint": "https://projects.pawsey.org.au",
                "access_key_id": "AKIA-visible",
                "secret_access_key": secret,
                "session_token": password,
            },
            "root_path": "/bucket",
        },
        storage_id=storage.storage_id,
        check_remote=False,
    )
    assert join_secrets(config.config, config.secrets)["parameters"]["secret_access_key"] == secret  # it is stored

    html = text_of(admin.get(f"/storages/{storage.storage_id}"))

    assert secret not in html
    assert password not in html
    assert re.search(r"<code>secret_access_key</code></td><td><span class=\"secret\">\*\*\*</span>", html)
    assert re.search(r"<code>session_token</code></td><td><span class=\"secret\">\*\*\*</span>", html)
    assert "https://projects.pawsey.org.au" in html and "AKIA-visible" in html
    assert "/bucket" in html
    assert "(the one DLM uses)" in html


def test_a_remote_whose_secrets_cannot_be_decrypted_is_shown_without_them(admin, settings):
    storage = make_storage(storage_name="acacia")
    storage_config_create(
        config={"name": "acacia", "type": "s3", "parameters": {"provider": "Ceph", "secret_access_key": "SK-123456"}},
        storage_id=storage.storage_id,
        check_remote=False,
    )
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key is gone

    response = admin.get(f"/storages/{storage.storage_id}")

    html = text_of(response)
    assert response.status_code == 200
    assert "cannot be decrypted with this server's keys" in html
    assert "Ceph" in html
    assert "SK-123456" not in html


def test_a_storage_page_lists_its_newest_twenty_items_and_links_to_all(viewer):
    storage = make_storage(storage_name="acacia store")
    other = make_storage()
    start = timezone.now() - timedelta(days=1)
    items = [make_item(storage, item_name=f"eb-{n:02d}", uid_creation=start + timedelta(minutes=n)) for n in range(25)]
    make_item(other, item_name="not-here")

    html = text_of(viewer.get(f"/storages/{storage.storage_id}"))
    section = html.split('id="items"')[1].split("</section>")[0]

    shown = re.findall(r'<a href="/items/([0-9a-f-]+)">(eb-\d\d)</a>', section)
    assert [name for _, name in shown] == [f"eb-{n:02d}" for n in range(24, 4, -1)]
    assert shown[0][0] == str(items[-1].uid)
    assert "not-here" not in section
    assert '<a href="/items?storage=acacia+store">' in section


def test_a_storage_page_lists_its_newest_twenty_jobs_either_way_and_links_to_all(viewer):
    storage = make_storage(storage_name="acacia")
    other, third = make_storage(storage_name="other"), make_storage(storage_name="third")

    def job(source, destination, **fields):
        return make_copy_job(source, destination, **fields)

    jobs = [job(storage, other) if n % 2 else job(other, storage) for n in range(22)]
    failed = job(storage, other, state=JobState.FAILED, last_error="rclone: 403 Forbidden\nstack")
    unrelated = job(other, third)

    html = text_of(viewer.get(f"/storages/{storage.storage_id}"))
    section = html.split('id="jobs"')[1].split("</section>")[0]

    shown = [int(n) for n in re.findall(r'<a href="/jobs/(\d+)">', section)]
    assert shown == [failed.migration_id] + [j.migration_id for j in reversed(jobs)][:19]
    assert unrelated.migration_id not in shown
    assert "rclone: 403 Forbidden" in section and "stack" not in section
    assert "other → acacia" in section and "acacia → other" in section
    assert '<a href="/jobs?storage=acacia">' in section


# --- the access check -------------------------------------------------------------------------


def local_remote(storage: Storage, directory) -> None:
    storage_config_create(
        config={"name": storage.storage_name, "type": "local", "root_path": str(directory)},
        storage_id=storage.storage_id,
        check_remote=False,
    )


def test_an_operator_checks_a_reachable_storage_and_sees_the_result(operator, tmp_path):
    storage = make_storage(storage_name="disk")
    local_remote(storage, tmp_path)

    response = operator.post(f"/storages/{storage.storage_id}/check")

    storage.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == f"/storages/{storage.storage_id}#access"
    assert storage.storage_checked is True
    assert timezone.now() - storage.storage_last_checked < timedelta(minutes=1)
    page = operator.get(response["Location"])
    html = text_of(page)
    assert followed_messages(page) == ["Access checked: disk is reachable."]
    assert "✓ Reachable</span>\n      at the last check" in html
    assert f"{storage.storage_last_checked:%Y-%m-%d %H:%M:%S} UTC" in html


def test_an_unreachable_storage_shows_rclones_reason_with_the_time(operator, tmp_path):
    storage = make_storage(storage_name="disk")
    local_remote(storage, tmp_path / "gone")

    response = operator.post(f"/storages/{storage.storage_id}/check", follow=True)

    storage.refresh_from_db()
    html = text_of(response)
    assert storage.storage_checked is False
    assert storage.storage_last_checked is not None
    assert followed_messages(response) == ["Access checked: disk is not reachable (the reason is below)."]
    assert "✗ Not reachable" in html
    reason = re.search(r"rclone's reason: <code class=\"value\">(.*?)</code>", html)
    assert reason and "directory not found" in reason.group(1)
    assert f"{storage.storage_last_checked:%Y-%m-%d %H:%M:%S} UTC" in html

    # The reason belongs to that check: another check (by anyone) replaces it.
    Storage.objects.filter(pk=storage.pk).update(storage_last_checked=timezone.now() + timedelta(seconds=5))
    assert "directory not found" not in text_of(operator.get(f"/storages/{storage.storage_id}"))


def test_checking_a_storage_without_a_remote_says_why(admin):
    storage = make_storage(storage_name="bare")

    html = text_of(admin.post(f"/storages/{storage.storage_id}/check", follow=True))

    assert "No valid configuration for storage found: bare" in html
    assert Storage.objects.get(pk=storage.pk).storage_last_checked is not None


def test_a_viewer_cannot_check_access_and_nothing_is_recorded(viewer, anon_client, tmp_path):
    storage = make_storage()
    local_remote(storage, tmp_path)

    assert viewer.post(f"/storages/{storage.storage_id}/check").status_code == 403
    assert anon_client.post(f"/storages/{storage.storage_id}/check").status_code == 302
    assert Storage.objects.get(pk=storage.pk).storage_last_checked is None


def test_the_check_is_post_only(operator):
    storage = make_storage()

    assert operator.get(f"/storages/{storage.storage_id}/check").status_code == 405
    assert Storage.objects.get(pk=storage.pk).storage_last_checked is None


# --- the storage form -------------------------------------------------------------------------


def storage_form(location: Location, **overrides) -> dict[str, str]:
    values = {
        "storage_name": "acacia",
        "location_id": str(location.location_id),
        "storage_type": "objectstore",
        "storage_interface": "s3",
        "root_directory": "/askap",
        "storage_capacity": "",
        "storage_phase": "LIQUID",
    }
    return {**values, **overrides}


def test_an_admin_creates_a_storage_with_a_capacity_in_units(admin):
    pawsey = make_location(location_name="Pawsey")

    response = admin.post("/storages/new", storage_form(pawsey, storage_capacity="2 TiB"))

    storage = Storage.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/storages/{storage.storage_id}"
    assert storage.location_id == pawsey.location_id
    assert (storage.storage_name, storage.storage_type, storage.storage_interface) == ("acacia", "objectstore", "s3")
    assert (storage.root_directory, storage.storage_phase) == ("/askap", "LIQUID")
    assert storage.storage_capacity == 2 * 1024**4
    assert "Storage acacia created." in text_of(admin.get(response["Location"]))


@pytest.mark.parametrize(
    ("typed", "stored"), [("", -1), ("1000", 1000), ("500 GB", 500 * 10**9), ("1.5T", 1_500_000_000_000), ("7 B", 7)]
)
def test_a_capacity_may_be_bytes_or_have_a_unit(admin, typed, stored):
    admin.post("/storages/new", storage_form(make_location(), storage_capacity=typed))

    assert Storage.objects.get().storage_capacity == stored


def test_the_storage_form_preselects_the_location_it_came_from(admin):
    pawsey = make_location(location_name="Pawsey")
    make_location(location_name="Other")

    html = text_of(admin.get(f"/storages/new?location={pawsey.location_id}"))

    assert f'<option value="{pawsey.location_id}" selected>Pawsey</option>' in html


def test_a_storage_form_without_locations_says_to_create_one_first(admin):
    assert "create a location</a> first" in text_of(admin.get("/storages/new"))


def test_a_taken_storage_name_is_refused_beside_the_name(admin):
    existing = make_storage(storage_name="acacia")

    response = admin.post("/storages/new", storage_form(existing.location))

    assert response.status_code == 422
    assert "a storage named &#x27;acacia&#x27; exists already" in field_errors(text_of(response), "storage_name")
    assert Storage.objects.count() == 1


def test_bad_storage_fields_are_each_refused_beside_their_field(admin):
    location = make_location()

    response = admin.post(
        "/storages/new", storage_form(location, storage_type="floppy", storage_capacity="lots", storage_interface="")
    )

    html = text_of(response)
    assert response.status_code == 422
    assert "Input should be &#x27;filesystem&#x27;" in field_errors(html, "storage_type")
    assert "Input should be a valid integer" in field_errors(html, "storage_capacity")
    assert "Field required" in field_errors(html, "storage_interface")
    assert error_summary(html).count("<li>") == 3
    assert Storage.objects.count() == 0


def test_a_storage_needs_a_location(admin):
    response = admin.post("/storages/new", storage_form(make_location(), location_id=""))

    assert response.status_code == 422
    assert "Either location_id or location_name must name an existing location" in field_errors(
        text_of(response), "location_id"
    )
    assert Storage.objects.count() == 0


# --- the rclone remote form -------------------------------------------------------------------


def config_form(**fields) -> dict[str, str]:
    values = {"name": "disk", "type": "local", "root_path": "", "check_remote": "on"}
    return {**values, **fields}


def test_the_config_form_offers_eight_option_rows_and_checks_the_remote_by_default(admin):
    storage = make_storage(storage_name="disk")

    html = text_of(admin.get(f"/storages/{storage.storage_id}/configs/new"))

    for row in range(8):
        assert f'<label for="id_param_key_{row}">Option {row + 1} name</label>' in html
        assert f'<label for="id_param_value_{row}">Option {row + 1} value</label>' in html
    assert re.search(r'<input type="checkbox" name="check_remote"[^>]* checked', html)
    assert 'value="disk"' in html  # the remote is named after the storage


def test_an_admin_adds_a_local_remote_that_rclone_reaches(admin, tmp_path):
    storage = make_storage(storage_name="disk")

    response = admin.post(f"/storages/{storage.storage_id}/configs/new", config_form(root_path=str(tmp_path)))

    assert response.status_code == 302
    assert response["Location"] == f"/storages/{storage.storage_id}#configs"
    config = StorageConfig.objects.get()
    assert config.storage_id == storage.storage_id
    assert config.config == {"name": "disk", "type": "local", "root_path": str(tmp_path)}
    page = admin.get(response["Location"])
    assert followed_messages(page) == ["rclone remote disk added to disk: rclone reached the remote."]


def test_secret_options_are_stored_encrypted_and_never_shown(admin, tmp_path):
    storage = make_storage(storage_name="disk")
    secret = "tok-" + uuid.uuid4().hex

    response = admin.post(
        f"/storages/{storage.storage_id}/configs/new",
        config_form(
            root_path=str(tmp_path),
            param_key_0="links",
            param_value_0="true",
            param_key_1="auth_token",
            param_value_1=secret,
        ),
    )

    assert response.status_code == 302
    config = StorageConfig.objects.get()
    assert config.config == {
        "name": "disk",
        "type": "local",
        "root_path": str(tmp_path),
        "parameters": {"links": "true"},
    }
    assert join_secrets(config.config, config.secrets)["parameters"]["auth_token"] == secret
    assert secret not in text_of(admin.get(response["Location"]))


def test_an_unreachable_s3_remote_is_refused_with_rclones_reason_and_nothing_is_stored(admin, short_rclone_timeout):
    storage = make_storage(storage_name="acacia")
    secret = "SK-" + uuid.uuid4().hex
    port = _free_port()

    response = admin.post(
        f"/storages/{storage.storage_id}/configs/new",
        config_form(
            name="acacia",
            type="s3",
            root_path="/bucket",
            param_key_0="provider",
            param_value_0="Other",
            param_key_1="endpoint",
            param_value_1=f"http://127.0.0.1:{port}",
            param_key_2="access_key_id",
            param_value_2="AK-visible",
            param_key_3="secret_access_key",
            param_value_3=secret,
        ),
    )

    html = text_of(response)
    assert response.status_code == 422
    reason = field_errors(html, "check_remote")
    assert "Configuring rclone server failed! Remote &#x27;acacia&#x27; is not reachable" in reason
    assert "connection refused" in reason or "did not answer" in reason
    assert "not reachable" in error_summary(html)
    assert secret not in html
    assert f"http://127.0.0.1:{port}" in html  # what was typed is kept, but not the secret
    assert re.search(r'<input type="password" name="param_value_3"(?![^>]* value=)[^>]*>', html)
    assert "Type the secret values again" in html
    assert StorageConfig.objects.count() == 0


def test_an_unreachable_remote_is_stored_when_the_check_is_turned_off(admin):
    storage = make_storage(storage_name="acacia")

    response = admin.post(
        f"/storages/{storage.storage_id}/configs/new",
        {
            "name": "acacia",
            "type": "s3",
            "param_key_0": "endpoint",
            "param_value_0": f"http://127.0.0.1:{_free_port()}",
        },
    )

    assert response.status_code == 302
    assert StorageConfig.objects.get().config["parameters"]["endpoint"].startswith("http://127.0.0.1:")
    assert "the remote was not checked" in text_of(admin.get(response["Location"]))


def test_a_malformed_definition_is_refused_beside_each_field_at_once(admin):
    storage = make_storage()

    response = admin.post(
        f"/storages/{storage.storage_id}/configs/new",
        config_form(
            name="",
            param_key_0="bad-name",
            param_value_0="x",
            param_key_1="",
            param_value_1="orphan",
            param_key_2="links",
            param_value_2="a",
            param_key_3="links",
            param_value_3="b",
        ),
    )

    html = text_of(response)
    assert response.status_code == 422
    assert "A non-empty string is required" in field_errors(html, "name")
    assert "An rclone option name is letters, digits and _" in field_errors(html, "param_key_0")
    assert "An option name is needed for this value." in field_errors(html, "param_key_1")
    assert "The option links is given twice." in field_errors(html, "param_key_3")
    assert 'value="orphan"' in html
    assert StorageConfig.objects.count() == 0


def test_the_pages_rule_for_secret_looking_options_is_the_servers(admin):
    """The config form's script hides a value as its option's name is typed, by a rule the page
    gets from the server: it must agree with ``is_secret_option``."""
    from core.secrets import is_secret_option
    from ui.forms import ConfigForm

    rule = ConfigForm.secret_rule()

    def page_rule(name: str) -> bool:  # what the script does with the rule
        n = name.strip().lower()
        return bool(n) and (
            n in rule["names"] or any(part in n for part in rule["contains"]) or n.endswith(tuple(rule["ends"]))
        )

    names = [
        *rule["names"],
        "endpoint", "provider", "access_key_id", "user", "host", "region", "Secret_Access_Key", "my_password_file",
        "key_file_pass", "oauth_token", "sas_passphrase", "links", "root", "chunk_size", "KEY", "keyfile",
    ]  # fmt: skip
    assert [page_rule(name) for name in names] == [is_secret_option(name) for name in names]
    html = text_of(admin.get(f"/storages/{make_storage().storage_id}/configs/new"))
    assert '<script id="secret-option-rule" type="application/json">' in html

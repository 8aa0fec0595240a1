"""A storage's rclone remote in the admin: edited as fields, secrets kept when left empty, replaced
when typed, removed when asked; tried against a real S3 server before it is stored; and no
secret ever in a page."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client

from catalogue.models import StorageConfig
from catalogue.services.storages import storage_config_check, storage_config_create
from core.secrets import join_secrets
from tests.admin.conftest import raw_table
from tests.factories import make_storage

pytestmark = pytest.mark.django_db

SESSION_TOKEN = "ST-admin-okapi-4471"  # a second secret; rclone's S3 server ignores it
WRONG_SECRET = "WRONG-secret-value-8812"


class _Form(HTMLParser):
    """What a browser submits from a page's admin form: its enabled fields and their values."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.selects: list[str] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "disabled" in a or not a.get("name"):
            if tag == "select":
                self._select = None
            return
        if tag == "input" and a.get("type") not in ("submit", "checkbox", "button"):
            self.fields[a["name"]] = a.get("value") or ""
        elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:
            self.fields[a["name"]] = "on"
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a.get("value") or ""


def _form(client: Client, url: str) -> dict[str, str]:
    response = client.get(url)
    assert response.status_code == 200
    parser = _Form()
    parser.feed(response.content.decode())
    parser.fields.pop("csrfmiddlewaretoken", None)
    return parser.fields


def _row(fields: dict[str, str], option: str) -> int:
    """The index of the form row showing ``option``."""
    for name, value in fields.items():
        if name.endswith("_key") and value == option:
            return int(name.split("_")[1])
    raise AssertionError(f"no row for {option}: {fields}")


def _secret_row(page: str, option: str) -> int:
    # A stored secret's name is a disabled input: browsers do not submit it.
    marker = f'value="{option}"'
    before = page[: page.index(marker)]
    return int(before[before.rindex('name="param_') + len('name="param_') :].split("_")[0])


def _change_url(config: StorageConfig) -> str:
    return f"/admin/catalogue/storageconfig/{config.pk}/change/"


@pytest.fixture
def stored(s3_server) -> StorageConfig:
    """The S3 server's remote, with its real secret and a session token, stored by the service."""
    config = {**s3_server.config, "parameters": {**s3_server.config["parameters"], "session_token": SESSION_TOKEN}}
    return storage_config_create(config=config, storage_id=make_storage().storage_id)


def _secrets(config: StorageConfig) -> dict[str, str]:
    row = StorageConfig.objects.get(pk=config.pk)
    return join_secrets(row.config, row.secrets)["parameters"]


def test_the_form_shows_options_as_fields_and_secrets_as_empty_password_inputs(admin_client, stored, s3_server):
    page = admin_client.get(_change_url(stored)).content.decode()

    assert 'name="name" value="acacia"' in page and 'name="type" value="s3"' in page
    assert 'value="access_key_id"' in page and 'value="AKTEST"' in page
    for option in ("secret_access_key", "session_token"):
        index = _secret_row(page, option)
        assert f'<input type="password" name="param_{index}_value"' in page
        assert 'placeholder="•••• unchanged"' in page
    assert s3_server.secret not in page and SESSION_TOKEN not in page


def test_an_untouched_secret_is_kept_when_other_fields_change(admin_client, stored, s3_server):
    fields = _form(admin_client, _change_url(stored))
    fields["root_path"] = "/bucket1"

    response = admin_client.post(_change_url(stored), fields)

    assert response.status_code == 302, response.content.decode()[-3000:]
    row = StorageConfig.objects.get(pk=stored.pk)
    assert row.config["root_path"] == "/bucket1"
    assert _secrets(stored)["secret_access_key"] == s3_server.secret
    assert _secrets(stored)["session_token"] == SESSION_TOKEN
    assert storage_config_check(config=row).reachable
    assert s3_server.secret not in raw_table("storage_config")


def test_a_secret_typed_in_replaces_the_stored_one(admin_client, s3_server):
    # Stored unchecked (as the start-up bootstrap may) with a secret the server refuses.
    config = {**s3_server.config, "parameters": {**s3_server.config["parameters"], "secret_access_key": WRONG_SECRET}}
    config["parameters"]["session_token"] = SESSION_TOKEN
    stale = storage_config_create(config=config, storage_id=make_storage().storage_id, check_remote=False)
    assert not storage_config_check(config=stale).reachable
    page = admin_client.get(_change_url(stale)).content.decode()
    fields = _form(admin_client, _change_url(stale))
    fields[f"param_{_secret_row(page, 'secret_access_key')}_value"] = s3_server.secret

    response = admin_client.post(_change_url(stale), fields)

    assert response.status_code == 302, response.content.decode()[-3000:]
    assert _secrets(stale)["secret_access_key"] == s3_server.secret
    assert _secrets(stale)["session_token"] == SESSION_TOKEN  # the untouched one stays
    assert storage_config_check(config=StorageConfig.objects.get(pk=stale.pk)).reachable


def test_credentials_the_remote_refuses_are_rejected_with_rclones_reason_and_nothing_is_saved(
    admin_client, stored, s3_server
):
    before = raw_table("storage_config")
    page = admin_client.get(_change_url(stored)).content.decode()
    fields = _form(admin_client, _change_url(stored))
    fields[f"param_{_secret_row(page, 'secret_access_key')}_value"] = WRONG_SECRET
    fields["root_path"] = "/bucket1"

    response = admin_client.post(_change_url(stored), fields)

    assert response.status_code == 200
    shown = response.content.decode()
    assert "Remote &#x27;acacia&#x27; is not reachable:" in shown
    assert "SignatureDoesNotMatch" in shown or "403" in shown  # rclone's reason, from the S3 server
    assert WRONG_SECRET not in shown and s3_server.secret not in shown
    assert raw_table("storage_config") == before
    assert _secrets(stored)["secret_access_key"] == s3_server.secret


def test_the_remove_box_drops_a_secret(admin_client, stored, s3_server):
    page = admin_client.get(_change_url(stored)).content.decode()
    fields = _form(admin_client, _change_url(stored))
    fields[f"param_{_secret_row(page, 'session_token')}_remove"] = "on"

    response = admin_client.post(_change_url(stored), fields)

    assert response.status_code == 302, response.content.decode()[-3000:]
    assert "session_token" not in _secrets(stored)
    assert _secrets(stored)["secret_access_key"] == s3_server.secret


def test_a_new_value_and_the_remove_box_together_are_refused(admin_client, stored):
    page = admin_client.get(_change_url(stored)).content.decode()
    fields = _form(admin_client, _change_url(stored))
    index = _secret_row(page, "session_token")
    fields[f"param_{index}_remove"], fields[f"param_{index}_value"] = "on", "ST-new-value-123"

    response = admin_client.post(_change_url(stored), fields)

    assert response.status_code == 200 and "Either enter a new value or remove the option" in response.content.decode()
    assert "ST-new-value-123" not in response.content.decode()
    assert _secrets(stored)["session_token"] == SESSION_TOKEN


def test_a_stored_secrets_name_cannot_be_changed(admin_client, stored, s3_server):
    page = admin_client.get(_change_url(stored)).content.decode()
    fields = _form(admin_client, _change_url(stored))
    fields[f"param_{_secret_row(page, 'secret_access_key')}_key"] = "endpoint_note"  # a forged submission

    response = admin_client.post(_change_url(stored), fields)

    assert response.status_code == 302
    row = StorageConfig.objects.get(pk=stored.pk)
    assert "endpoint_note" not in row.config["parameters"]
    assert _secrets(stored)["secret_access_key"] == s3_server.secret


def _add_form(storage, parameters: dict[str, str]) -> dict[str, str]:
    fields = {"storage": str(storage.pk), "config_type": "rclone", "name": "acacia", "type": "s3", "root_path": ""}
    for index, (key, value) in enumerate(parameters.items()):
        fields[f"param_{index}_key"], fields[f"param_{index}_value"] = key, value
    return fields


def test_a_config_added_in_the_admin_is_checked_and_its_secrets_encrypted(admin_client, s3_server):
    storage = make_storage()
    response = admin_client.post(
        "/admin/catalogue/storageconfig/add/", _add_form(storage, s3_server.config["parameters"])
    )

    assert response.status_code == 302, response.content.decode()[-3000:]
    row = StorageConfig.objects.get(storage=storage)
    assert "secret_access_key" not in row.config["parameters"]
    assert join_secrets(row.config, row.secrets) == {**s3_server.config, "root_path": "/"}
    assert s3_server.secret not in raw_table("storage_config")


def test_a_config_added_with_wrong_keys_is_refused_and_not_stored(admin_client, s3_server):
    storage = make_storage()
    parameters = {**s3_server.config["parameters"], "secret_access_key": WRONG_SECRET}

    response = admin_client.post("/admin/catalogue/storageconfig/add/", _add_form(storage, parameters))

    assert response.status_code == 200
    shown = response.content.decode()
    assert "is not reachable" in shown
    assert WRONG_SECRET not in shown  # typed into a plain row, it is not shown back either
    assert not StorageConfig.objects.filter(storage=storage).exists()


def test_no_admin_page_shows_a_secret_after_changes(admin_client, stored, s3_server):
    page = admin_client.get(_change_url(stored)).content.decode()
    fields = _form(admin_client, _change_url(stored))
    fields[f"param_{_secret_row(page, 'session_token')}_value"] = "ST-replaced-secret-5521"
    assert admin_client.post(_change_url(stored), fields).status_code == 302
    base = "/admin/catalogue/storageconfig/"

    pages = [
        base,
        _change_url(stored),
        f"{base}{stored.pk}/history/",
        f"{base}{stored.pk}/delete/",
        "/admin/",
        "/admin/audit/auditrecord/",
    ]
    pages += [f"/admin/audit/auditrecord/{pk}/change/" for pk in _audit_ids()]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        for secret in (s3_server.secret, SESSION_TOKEN, "ST-replaced-secret-5521"):
            assert secret not in text, url


def _audit_ids() -> list[int]:
    from audit.models import AuditRecord

    return list(AuditRecord.objects.filter(object_type="storage_config").values_list("pk", flat=True))


def test_check_against_the_remote_reports_each_config(admin_client, stored, s3_server):
    config = {**s3_server.config, "parameters": {**s3_server.config["parameters"], "secret_access_key": WRONG_SECRET}}
    stale = storage_config_create(config=config, storage_id=make_storage().storage_id, check_remote=False)

    response = admin_client.post(
        "/admin/catalogue/storageconfig/",
        {"action": "check_remote", "_selected_action": [str(stored.pk), str(stale.pk)]},
        follow=True,
    )

    shown = [str(message) for message in response.context["messages"]]
    assert any(message.endswith("/ acacia: reachable") for message in shown), shown
    assert any("not reachable" in message for message in shown), shown
    assert all(WRONG_SECRET not in message and s3_server.secret not in message for message in shown)

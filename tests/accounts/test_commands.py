"""The commands the run script calls."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests.conftest import Api

pytestmark = pytest.mark.django_db


def _run(capsys, settings, tmp_path) -> dict[str, str]:
    settings.VAR_DIR = tmp_path
    call_command("dlm_local_admin", "--url", "http://127.0.0.1:9999")
    lines = capsys.readouterr().out.splitlines()
    return {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in lines if ":" in line}


def test_local_admin_is_a_superuser_with_a_working_admin_token(capsys, settings, tmp_path):
    shown = _run(capsys, settings, tmp_path)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    password = shown["password"].split()[0]
    assert admin.check_password(password)
    assert (tmp_path / "admin_password").read_text().strip() == password
    api = Api(Client(), shown["API token"])
    response = api.post("/storage/init_location", {"location_name": "here", "location_type": "local-dev"})
    assert response.status_code == 200
    assert "http://127.0.0.1:9999/storage/query_storage" in shown["use it as"]


def test_local_admin_keeps_its_password_and_gives_a_new_token_each_start(capsys, settings, tmp_path):
    first = _run(capsys, settings, tmp_path)
    second = _run(capsys, settings, tmp_path)
    assert first["password"] == second["password"]
    assert first["API token"] != second["API token"]
    assert Api(Client(), first["API token"]).get("/storage/query_storage").status_code == 200


def test_local_admin_does_not_show_a_password_changed_since(capsys, settings, tmp_path):
    _run(capsys, settings, tmp_path)
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("mine-now")
    admin.save()
    shown = _run(capsys, settings, tmp_path)
    assert "not shown" in shown["password"]
    assert get_user_model().objects.get(username="admin").check_password("mine-now")

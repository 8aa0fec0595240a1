"""Accounts, groups, group membership and API tokens are recorded while an actor is set; password
hashes and token digests never are."""

from __future__ import annotations

import getpass

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from knox.models import AuthToken

from accounts.tokens import api_token_create
from tests.audit.conftest import raw_audit_rows, records

pytestmark = pytest.mark.django_db


def test_an_account_is_recorded_without_its_password_hash(actor):
    user = get_user_model().objects.create_user(username="alice", password="first-Pa55word")
    first_hash = user.password
    user.set_password("second-Pa55word")
    user.email = "alice@example.org"
    user.save()

    created, changed = records(object_type="user")
    assert (created.action, created.object_id) == ("create", str(user.pk))
    assert created.changes["username"] == "alice"
    assert created.changes["password"] == "***"
    assert (changed.action, changed.object_id) == ("update", str(user.pk))
    assert changed.changes == {"password": ["***", "***"], "email": ["", "alice@example.org"]}
    assert (changed.username, changed.via, changed.auth) == ("ops", "command", "command")
    trail = raw_audit_rows()
    assert first_hash not in trail and user.password not in trail
    assert "Pa55word" not in trail


def test_saving_an_unchanged_account_records_nothing(actor):
    user = get_user_model().objects.create_user(username="bob")
    user.save()
    user.save(update_fields=["last_login"])
    assert [r.action for r in records(object_type="user")] == ["create"]


def test_group_membership_is_recorded_from_either_side(actor):
    user = get_user_model().objects.create_user(username="carol")
    viewers = Group.objects.create(name="team-a")
    operators = Group.objects.create(name="team-b")

    user.groups.add(viewers, operators)
    operators.user_set.remove(user)
    user.groups.clear()

    memberships = [r for r in records(action="update")]
    assert [(r.object_type, r.object_id, r.changes) for r in memberships] == [
        ("user", str(user.pk), {"groups": [[], ["team-a", "team-b"]]}),
        ("group", str(operators.pk), {"user_set": [["carol"], []]}),
        ("user", str(user.pk), {"groups": [["team-a"], []]}),
    ]
    assert [(r.action, r.object_type, r.changes) for r in records(object_type="group")][:2] == [
        ("create", "group", {"id": viewers.pk, "name": "team-a"}),
        ("create", "group", {"id": operators.pk, "name": "team-b"}),
    ]


def test_a_token_is_named_by_its_key_never_by_its_digest_or_value(actor):
    user = get_user_model().objects.create_user(username="dave")
    row, token = api_token_create(user=user)
    digest, key = row.digest, row.token_key
    row.delete()

    created, deleted = records(object_type="api_token")
    assert (created.action, created.object_id) == ("create", key)
    assert (deleted.action, deleted.object_id) == ("delete", key)
    assert created.changes["user_id"] == user.pk and "digest" not in created.changes
    assert deleted.changes["token_key"] == key
    trail = raw_audit_rows()
    assert digest not in trail and token not in trail


def test_deleting_an_account_records_it_and_its_tokens(actor):
    user = get_user_model().objects.create_user(username="erin")
    row, _ = api_token_create(user=user)
    user_id = user.pk

    user.delete()

    deletes = records(action="delete")
    assert {(r.object_type, r.object_id) for r in deletes} == {("user", str(user_id)), ("api_token", row.token_key)}


def test_nothing_is_recorded_without_an_actor(db):
    user = get_user_model().objects.create_user(username="frank", password="x")
    group = Group.objects.create(name="g")
    user.groups.add(group)
    api_token_create(user=user)[0].delete()
    user.delete()
    assert records() == []


def test_create_api_token_is_recorded_as_a_command(capsys):
    call_command("create_api_token", "grace", "--role", "operator")
    token = capsys.readouterr().out.strip().splitlines()[-1]

    made = records()
    assert {(r.via, r.auth, r.operation) for r in made} == {("command", "command", "create_api_token")}
    user = get_user_model().objects.get(username="grace")
    key = AuthToken.objects.get(user=user).token_key
    assert [(r.action, r.object_type, r.object_id) for r in made] == [
        ("create", "user", str(user.pk)),
        ("update", "user", str(user.pk)),  # its role (the role groups exist from the start)
        ("create", "api_token", key),
    ]
    assert made[1].changes == {"groups": [[], ["operator"]]}
    assert made[0].username == getpass.getuser()
    assert token not in raw_audit_rows()

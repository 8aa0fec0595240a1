"""``rotate_encryption_keys``: every encrypted value re-encrypted under the newest key, in batches,
safe to interrupt and run again; a value no key decrypts is reported and the rest still rotated."""

from __future__ import annotations

import subprocess
import sys
import uuid
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from catalogue.models import StorageConfig
from catalogue.services.storages import storage_config_create
from core.crypto import encrypted_fields
from core.management.commands import rotate_encryption_keys
from core.secrets import join_secrets
from events.models import Subscription
from events.webhooks import webhook_create
from tests.dlm.test_settings import ROOT, _env
from tests.factories import make_storage

KEY_A, KEY_B, KEY_C = (Fernet.generate_key() for _ in range(3))


def _raw() -> dict[str, str]:
    """Each config's secrets column as stored (ciphertext), by config_id."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT config_id, secrets FROM storage_config WHERE secrets IS NOT NULL")
        return {str(uuid.UUID(str(pk))): value for pk, value in cursor.fetchall()}  # SQLite: hex


def _configs(count: int) -> dict[str, dict]:
    """``count`` stored configs with secrets; their whole definitions by config_id."""
    storage = make_storage()
    made = {}
    for n in range(count):
        definition = {
            "name": f"disk{n}",
            "type": "sftp",
            "parameters": {"host": "example.org", "user": "dlm", "pass": f"pw-{n}-fjord"},
            "root_path": "/",
        }
        row = storage_config_create(config=definition, storage_id=storage.storage_id, check_remote=False)
        made[str(row.pk)] = definition
    return made


def _rotate(**options) -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out, **options)
    return out.getvalue()


def _under(key: bytes, token: str) -> bool:
    try:
        Fernet(key).decrypt(token.encode())
    except Exception:
        return False
    return True


def test_every_encrypted_field_is_found():
    assert [(model._meta.label, field.name) for model, field in encrypted_fields()] == [
        ("catalogue.StorageConfig", "secrets"),
        ("events.Subscription", "secret"),
    ]


@pytest.mark.django_db
def test_webhook_secrets_move_to_the_new_key_too(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    hook = webhook_create(fields={"name": "ops", "url": "https://example.org/hook", "secret": "s3cr3t-fjord"})
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    output = _rotate()

    assert "events.Subscription.secret: 1 re-encrypted, 0 already current, 0 failed" in output
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM events_subscription WHERE id = %s", [hook.pk])
        [(token,)] = cursor.fetchall()
    assert _under(KEY_B, token)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    assert Subscription.objects.get(pk=hook.pk).secret == "s3cr3t-fjord"
    assert "fjord" not in output


@pytest.mark.django_db
def test_values_move_to_the_new_key_and_decrypt_with_it_alone(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    made = _configs(3)
    before = _raw()
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    output = _rotate()

    after = _raw()
    assert "catalogue.StorageConfig.secrets: 3 re-encrypted, 0 already current, 0 failed" in output
    assert all(after[pk] != before[pk] and _under(KEY_B, after[pk]) for pk in made)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]  # the old key dropped
    for pk, definition in made.items():
        row = StorageConfig.objects.get(pk=pk)
        assert join_secrets(row.config, row.secrets) == definition
    assert "fjord" not in output


@pytest.mark.django_db
def test_a_second_run_leaves_current_values_as_they_are(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    _configs(2)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    _rotate()
    rotated = _raw()

    output = _rotate()

    assert "0 re-encrypted, 2 already current, 0 failed" in output
    assert _raw() == rotated


@pytest.mark.django_db
def test_a_value_no_key_decrypts_is_reported_and_the_others_still_rotated(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_C]
    lost = _configs(1)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    made = _configs(2)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    out = StringIO()

    with pytest.raises(CommandError, match="1 value\\(s\\) could not be decrypted with any key"):
        call_command("rotate_encryption_keys", stdout=out)

    output = out.getvalue()
    [lost_pk] = lost
    assert "2 re-encrypted, 0 already current, 1 failed" in output
    assert f"config_id={lost_pk}: no key in DLM_FIELD_ENCRYPTION_KEYS decrypts it" in output
    raw = _raw()
    assert all(_under(KEY_B, raw[pk]) for pk in made)
    assert _under(KEY_C, raw[lost_pk])  # left as it was
    assert "fjord" not in output


class Interrupted(Exception):
    pass


# Not a transactional test: its flush would break the serialized-rollback tests that run after
# it. Each batch's transaction is then a savepoint, which the interruption would roll back if it
# came inside the batch: what stays is what a real run would have committed.
@pytest.mark.django_db
def test_an_interrupted_run_keeps_its_committed_batches_and_the_next_run_completes(settings, monkeypatch):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    made = _configs(5)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    def stop(model, field_name, rows):
        raise Interrupted("the process was stopped")

    monkeypatch.setattr(rotate_encryption_keys, "after_batch", stop)
    with pytest.raises(Interrupted):
        _rotate(batch_size=2)
    raw = _raw()
    assert sorted(_under(KEY_B, raw[pk]) for pk in made) == [False, False, False, True, True]

    monkeypatch.undo()
    output = _rotate(batch_size=2)

    assert "3 re-encrypted, 2 already current, 0 failed" in output
    assert all(_under(KEY_B, token) for token in _raw().values())


@pytest.mark.django_db
def test_a_bad_batch_size_is_refused():
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        _rotate(batch_size=0)


def test_outside_the_embedded_default_the_command_needs_the_keys(tmp_path):
    """With DLM_DEBUG=false and no DLM_FIELD_ENCRYPTION_KEYS, the command stops before touching
    anything, naming the variable (the start-up check of test_settings, for this command)."""
    env = _env(tmp_path, DLM_DEBUG="false", DLM_SECRET_KEY="x" * 50)
    result = subprocess.run(
        [sys.executable, "manage.py", "rotate_encryption_keys"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "DLM_FIELD_ENCRYPTION_KEYS must be set when DLM_DEBUG is off" in result.stderr
    assert not (tmp_path / "var" / "field_encryption_key").exists()

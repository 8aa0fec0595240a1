"""Secrets at rest: what a decryption answers is the same whether or not it decrypted the value
before (its plaintext is kept for the next time, under the keys it was decrypted with)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from core.crypto import SecretDecryptionError, decrypt_json, encrypt_json

KEY_OLD, KEY_NEW = Fernet.generate_key(), Fernet.generate_key()


def test_a_value_decrypted_before_is_refused_once_its_key_is_gone(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_OLD]
    token = encrypt_json({"pass": "fjord-secret"})
    assert decrypt_json(token) == {"pass": "fjord-secret"}

    settings.FIELD_ENCRYPTION_KEYS = [KEY_NEW, KEY_OLD]  # rotating: the old key still decrypts
    assert decrypt_json(token) == {"pass": "fjord-secret"}

    settings.FIELD_ENCRYPTION_KEYS = [KEY_NEW]  # the old key removed
    with pytest.raises(SecretDecryptionError):
        decrypt_json(token)


def test_each_decryption_answers_its_own_value(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_OLD]
    token = encrypt_json({"pass": "fjord-secret", "options": {"region": "a"}})
    first = decrypt_json(token)
    first["pass"] = "changed by a caller"
    first["options"]["region"] = "b"

    assert decrypt_json(token) == {"pass": "fjord-secret", "options": {"region": "a"}}


def test_a_tampered_value_is_refused_every_time(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_OLD]
    token = encrypt_json({"pass": "fjord-secret"})
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")

    for _ in range(2):
        with pytest.raises(SecretDecryptionError):
            decrypt_json(tampered)

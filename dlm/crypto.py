"""Encryption at rest for secret values, with a key list (newest first) for rotation."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class SecretDecryptionError(RuntimeError):
    """A stored secret could not be decrypted with any key in DLM_FIELD_ENCRYPTION_KEYS."""


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.FIELD_ENCRYPTION_KEYS])


def encrypt_json(value: Any) -> str:
    """Encrypt a JSON-serialisable value under the newest key."""
    return _fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> Any:
    """Decrypt a value made by ``encrypt_json``; a wrong key raises, it never returns ciphertext."""
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise SecretDecryptionError(
            "a stored secret cannot be decrypted with the keys in DLM_FIELD_ENCRYPTION_KEYS"
        ) from None


class EncryptedJSONField(models.TextField):
    """A JSON value stored as a Fernet token. Only the ciphertext reaches the database."""

    def get_prep_value(self, value: Any) -> str | None:
        return None if value is None else encrypt_json(value)

    def from_db_value(self, value: str | None, expression, connection) -> Any:
        return None if value is None else decrypt_json(value)

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj) -> str:
        # Used by dumpdata and serializers: never write the plaintext out.
        return "***"

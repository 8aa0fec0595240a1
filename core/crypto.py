"""Encryption at rest for secret values, with a key list (newest first) for rotation."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.db import models


class SecretDecryptionError(RuntimeError):
    """A stored secret could not be decrypted with any key in DLM_FIELD_ENCRYPTION_KEYS."""


def _fernet() -> MultiFernet:
    return _fernet_of(tuple(settings.FIELD_ENCRYPTION_KEYS))


@lru_cache(maxsize=8)
def _fernet_of(keys: tuple[str | bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


@lru_cache(maxsize=256)
def _plaintext(keys: tuple[str | bytes, ...], token: str) -> bytes:
    """The plaintext of ``token`` under ``keys``, kept for the next time: a storage's rclone
    secrets are decrypted for each registration on it (a twentieth of its time). A token is
    immutable and the keys are part of the cache's key, so a changed secret or key list is never
    answered from it; a token that does not decrypt is not kept."""
    return _fernet_of(keys).decrypt(token.encode())


def encrypt_json(value: Any) -> str:
    """Encrypt a JSON-serialisable value under the newest key."""
    return _fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> Any:
    """Decrypt a value made by ``encrypt_json``; a wrong key raises, it never returns ciphertext."""
    try:
        return json.loads(_plaintext(tuple(settings.FIELD_ENCRYPTION_KEYS), token))  # a new object each time
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


# --- key rotation -----------------------------------------------------------------------------


def under_newest_key(token: str) -> bool:
    """True when ``token`` was encrypted under the newest key (the first of
    DLM_FIELD_ENCRYPTION_KEYS): Fernet tokens do not name their key, so the newest key alone is tried."""
    try:
        Fernet(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def reencrypt(token: str) -> str:
    """``token`` encrypted again under the newest key (decrypted with any key; its plaintext never
    leaves this function). Raises ``SecretDecryptionError`` when no key decrypts it."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError(
            "no key in DLM_FIELD_ENCRYPTION_KEYS decrypts it (was the key it was made with removed?)"
        ) from None


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedJSONField]]:
    """Every ``EncryptedJSONField`` of every installed model (concrete models only)."""
    return [
        (model, field)
        for model in apps.get_models()
        if not model._meta.proxy
        for field in model._meta.local_concrete_fields
        if isinstance(field, EncryptedJSONField)
    ]

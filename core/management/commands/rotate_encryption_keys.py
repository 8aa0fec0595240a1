"""``manage.py rotate_encryption_keys [--batch-size N]``: re-encrypt every stored secret under the
newest key (the first of DLM_FIELD_ENCRYPTION_KEYS).

Every ``EncryptedJSONField`` of every model is read as ciphertext, in primary-key order, in
batches; each batch is one transaction that locks its rows, and a row is rewritten only if its
ciphertext is still the one read. A value already under the newest key is left as it is, so the
command is safe to interrupt and to run again. A value that no key decrypts is reported (by its
row's key, never its content) and left; the others are still rotated, and the command exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, router, transaction
from django.db.models import TextField, Value
from django.db.models.functions import Cast
from django.db.models.lookups import Exact

from core.crypto import SecretDecryptionError, encrypted_fields, reencrypt, under_newest_key


def after_batch(model: type[models.Model], field_name: str, rows: int) -> None:
    """Called after each batch has been committed; does nothing. Tests replace it to interrupt a
    run between batches."""


@dataclass
class Outcome:
    """What became of one field's values."""

    reencrypted: int = 0
    current: int = 0
    failed: list[tuple[Any, str]] = field(default_factory=list)


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value under the newest key (the first of DLM_FIELD_ENCRYPTION_KEYS). "
        "Safe to interrupt and run again; exits 1 if a value cannot be decrypted with any key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=200, help="Rows re-encrypted per transaction (default 200)."
        )

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        keys = len(settings.FIELD_ENCRYPTION_KEYS)
        self.stdout.write(f"Re-encrypting under the newest of {keys} key(s) in DLM_FIELD_ENCRYPTION_KEYS.")
        if keys == 1:
            self.stdout.write(
                "Only one key is configured: values are under it already or unreadable. To rotate, "
                "put a new key first and keep the old one after it: DLM_FIELD_ENCRYPTION_KEYS=new,old."
            )
        failed = 0
        for model, encrypted in encrypted_fields():
            outcome = self._rotate(model, encrypted.name, batch_size)
            self.stdout.write(
                f"{model._meta.label}.{encrypted.name}: {outcome.reencrypted} re-encrypted, "
                f"{outcome.current} already current, {len(outcome.failed)} failed"
            )
            for pk, reason in outcome.failed:
                self.stdout.write(f"  {model._meta.pk.name}={pk}: {reason}")
            failed += len(outcome.failed)
        if failed:
            raise CommandError(
                f"{failed} value(s) could not be decrypted with any key and were left as they are "
                "(add the key they were made with to DLM_FIELD_ENCRYPTION_KEYS, or enter them again)"
            )

    def _rotate(self, model: type[models.Model], name: str, batch_size: int) -> Outcome:
        outcome = Outcome()
        # The ciphertext as stored: a Cast to text skips the field's decryption on reading, and a
        # text Value skips its encryption on writing.
        ciphertext = Cast(name, TextField())
        rows = model._base_manager.filter(**{f"{name}__isnull": False}).order_by("pk")
        using = router.db_for_write(model)
        last = None
        while True:
            with transaction.atomic(using=using):
                page = rows if last is None else rows.filter(pk__gt=last)
                batch = list(
                    page.select_for_update()
                    .annotate(_ciphertext=ciphertext)
                    .values_list("pk", "_ciphertext")[:batch_size]
                )
                for pk, token in batch:
                    self._one(model, name, ciphertext, pk, token, outcome)
            if not batch:
                return outcome
            last = batch[-1][0]
            after_batch(model, name, len(batch))

    @staticmethod
    def _one(model: type[models.Model], name: str, ciphertext: Cast, pk: Any, token: str, outcome: Outcome) -> None:
        if under_newest_key(token):
            outcome.current += 1
            return
        try:
            rotated = reencrypt(token)
        except SecretDecryptionError as exc:
            outcome.failed.append((pk, str(exc)))
            return
        still_there = model._base_manager.filter(Exact(ciphertext, token), pk=pk)
        if still_there.update(**{name: Value(rotated, output_field=TextField())}):
            outcome.reencrypted += 1
        else:
            outcome.current += 1  # rewritten meanwhile, by a save: under the newest key

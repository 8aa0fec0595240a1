"""The admin's forms: a model form whose object a service stores (``ServiceModelForm``), and the
form for a storage's rclone remote: its name, type, root path and options as fields.

Secret options (``core.secrets.is_secret_option``) never reach the page: a stored one is an empty
password input (placeholder "unchanged") that keeps the stored value when left empty, replaces it
when filled in, and is removed with its "remove" box. The form reads no secret value: it asks
the service to keep the stored ones by their place (``secrets_kept``).

The form checks the definition's shape as the service does (``rclone_config_clean``) and hands it
to the model admin (``definition``, ``secrets_kept``), whose ``save_model`` makes the one service
call that tries it against the real remote and stores it (``storage_config_create`` /
``storage_config_update`` with ``check_remote=True``); rclone's refusal (secrets masked) is then
shown as the form's error (``catalogue.admin.writes``).
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from django import forms

from catalogue.models import StorageConfig
from catalogue.services.storages import rclone_config_clean
from core.crypto import SecretDecryptionError
from core.errors import FieldError, FieldErrors, field_errors
from core.secrets import is_secret_option

ROWS_MIN = 10  # option rows on the form, at least
ROWS_SPARE = 3  # empty rows after a stored definition's options
OPTION_NAME = re.compile(r"[A-Za-z0-9_]+")  # rclone reads each option from an env variable
SHAPE_KEYS = ("name", "type", "parameters", "root_path")
UNCHANGED = "•••• unchanged"


def refusal_parts(error: Exception) -> list[tuple[str | None, tuple[Any, ...], str]]:
    """``(field, position inside it, message)`` for each refusal in a service's exception."""
    if isinstance(error, FieldError | FieldErrors):
        return [(e.field, e.at, e.message) for e in field_errors(error)]
    return [(getattr(error, "field", None), (), getattr(error, "message", str(error)))]


class ServiceModelForm(forms.ModelForm):
    """A model form saved by a service: uniqueness is the service's to judge (in the API's words),
    and a refusal is shown beside the field the service names."""

    def validate_unique(self) -> None:
        """Nothing here: the service checks uniqueness, as it does for the API."""

    def refusal_field(self, field: str | None, at: tuple[Any, ...]) -> str | None:
        """The form's field showing a refusal of the service's ``field`` (None: the whole form)."""
        if field in self.fields:
            return field
        if field and field.endswith("_id") and field.removesuffix("_id") in self.fields:
            return field.removesuffix("_id")  # a reference: the service names its column
        return None

    def add_refusal(self, error: Exception) -> None:
        """Show a service's refusal on the form."""
        for field, at, message in refusal_parts(error):
            self.add_error(self.refusal_field(field, at), message)

    def save(self, commit: bool = True) -> Any:
        """The instance as edited, unsaved: the model admin stores it through a service."""
        if commit:
            raise TypeError("a service stores this form's object: see ServiceAdmin.save_model")
        return super().save(commit=False)


def parameter_rows(config: StorageConfig | None) -> int:
    """How many option rows the form for ``config`` has."""
    if config is None:
        return ROWS_MIN
    stored = len(_parameters(config.config)) + len(_stored_secret_options(config)[0])
    return max(ROWS_MIN, stored + ROWS_SPARE)


def row_fields(index: int) -> tuple[str, str, str]:
    """The names of row ``index``'s fields: the option's name, its value, its "remove" box."""
    return f"param_{index}_key", f"param_{index}_value", f"param_{index}_remove"


def _parameters(config: dict[str, Any]) -> dict[str, Any]:
    parameters = config.get("parameters")
    return parameters if isinstance(parameters, dict) else {}


def _stored_secret_options(config: StorageConfig) -> tuple[list[str], list[list[str]], bool]:
    """The names of the stored secret options (``parameters``), the places of any other stored
    secrets, and whether the secrets could be read at all. Values are not kept."""
    try:
        stored = config.secrets or []
    except SecretDecryptionError:
        return [], [], False
    options = [path[1] for path, _ in stored if len(path) == 2 and path[0] == "parameters"]
    others = [list(path) for path, _ in stored if not (len(path) == 2 and path[0] == "parameters")]
    return options, others, True


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class StorageConfigForm(ServiceModelForm):
    """A remote definition edited as fields; see the module's docstring. Made for a number of
    option rows by ``storage_config_form``."""

    name = forms.CharField(label="remote name", max_length=255, help_text="The rclone remote's name.")
    type = forms.CharField(
        label="rclone type", max_length=64, help_text="rclone's backend: s3, sftp, local, alias, webdav…"
    )
    root_path = forms.CharField(
        label="root path",
        max_length=4096,
        required=False,
        initial="/",
        help_text="Where the storage starts on the remote (a bucket, a directory); empty: /.",
    )

    rows: ClassVar[int] = ROWS_MIN

    class Meta:
        model = StorageConfig
        fields = ["storage", "config_type"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.definition: dict[str, Any] = {}
        self.secrets_kept: list[list[str]] = []
        self.adding = self.instance._state.adding
        self._stored_secret_row: dict[int, str] = {}
        self._typed_values: dict[int, Any] = {}
        self._other_secret_paths: list[list[str]] = []
        self.secrets_readable = True
        if not self.adding:
            self._fill_from(self.instance)
        for index in range(self.rows):
            key_field, value_field, _ = row_fields(index)
            key = self._stored_secret_row.get(index) or self._submitted(key_field)
            if index in self._stored_secret_row or is_secret_option(key):
                # Never rendered back: neither a stored secret nor one just typed into a form
                # that failed and is shown again.
                placeholder = UNCHANGED if index in self._stored_secret_row else ""
                self.fields[value_field].widget = forms.PasswordInput(
                    render_value=False, attrs={"placeholder": placeholder, "autocomplete": "new-password"}
                )

    def _submitted(self, field: str) -> str:
        if self.is_bound:
            return str(self.data.get(self.add_prefix(field), "")).strip()
        return str(self.initial.get(field, ""))

    def _fill_from(self, config: StorageConfig) -> None:
        definition = config.config if isinstance(config.config, dict) else {}
        self.initial.update(
            name=definition.get("name", ""), type=definition.get("type", ""), root_path=definition.get("root_path", "/")
        )
        secret_options, self._other_secret_paths, self.secrets_readable = _stored_secret_options(config)
        index = 0
        for key, value in _parameters(definition).items():
            key_field, value_field, _ = row_fields(index)
            self.initial[key_field], self.initial[value_field] = key, _shown(value)
            self._typed_values[index] = value
            index += 1
        for key in secret_options:
            key_field, _, _ = row_fields(index)
            self.initial[key_field] = key
            self.fields[key_field].disabled = True  # a stored secret is replaced or removed, not renamed
            self._stored_secret_row[index] = key
            index += 1

    def _other_keys(self) -> dict[str, Any]:
        """Keys of a stored definition beyond name, type, parameters and root_path: kept as they are."""
        if self.adding or not isinstance(self.instance.config, dict):
            return {}
        return {key: value for key, value in self.instance.config.items() if key not in SHAPE_KEYS}

    def _typed(self, index: int, text: str) -> Any:
        # A value left as it was shown keeps its JSON type (a number, a boolean); anything typed is text.
        original = self._typed_values.get(index, text)
        return original if _shown(original) == text else text

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        parameters: dict[str, Any] = {}
        kept: list[list[str]] = list(self._other_secret_paths)
        for index in range(self.rows):
            key_field, value_field, remove_field = row_fields(index)
            key = self._stored_secret_row.get(index) or (cleaned.get(key_field) or "").strip()
            value = cleaned.get(value_field) or ""
            if not key:
                if value:
                    self.add_error(key_field, "Name the option this value is for.")
                continue
            if not OPTION_NAME.fullmatch(key):
                self.add_error(key_field, "An rclone option name is letters, digits and _.")
                continue
            if key in parameters or ["parameters", key] in kept:
                self.add_error(key_field, "This option is given twice.")
                continue
            if cleaned.get(remove_field):
                if value:
                    self.add_error(value_field, "Either enter a new value or remove the option, not both.")
                continue
            if index in self._stored_secret_row and value == "":
                kept.append(["parameters", key])
                continue
            parameters[key] = self._typed(index, value)
        if self.errors:
            return cleaned
        self.definition = {
            **self._other_keys(),
            "name": cleaned.get("name", ""),
            "type": cleaned.get("type", ""),
            "parameters": parameters,
            "root_path": cleaned.get("root_path") or "/",
        }
        self.secrets_kept = kept
        try:  # the service's own check of the shape, before the remote is tried
            rclone_config_clean(self.definition)
        except (FieldError, FieldErrors) as exc:
            self.add_refusal(exc)
        return cleaned

    def refusal_field(self, field: str | None, at: tuple[Any, ...]) -> str | None:
        """A refused part of the definition (``config`` at ``("name",)``, ``("parameters", key)``…)
        beside its field; the definition as a whole (the remote tried) at the top of the form."""
        if field != "config":
            return super().refusal_field(field, at)
        if at and at[0] in ("name", "type", "root_path"):
            return at[0]
        if len(at) >= 2 and at[0] == "parameters":
            for index in range(self.rows):
                key_field = row_fields(index)[0]
                if (self._stored_secret_row.get(index) or self.cleaned_data.get(key_field)) == at[1]:
                    return key_field
        return None


def storage_config_form(*, rows: int, adding: bool) -> type[StorageConfigForm]:
    """The form class with ``rows`` option rows; adding, the storage and config type are chosen
    too (a stored config keeps both)."""
    attrs: dict[str, Any] = {"rows": rows, "__module__": __name__}
    for index in range(rows):
        key_field, value_field, remove_field = row_fields(index)
        attrs[key_field] = forms.CharField(label="option", required=False, max_length=255)
        attrs[value_field] = forms.CharField(label="value", required=False, strip=False)
        attrs[remove_field] = forms.BooleanField(label="remove", required=False)
    meta_fields = ["storage", "config_type"] if adding else []
    attrs["Meta"] = type("Meta", (StorageConfigForm.Meta,), {"fields": meta_fields})
    return type("StorageConfigForm", (StorageConfigForm,), attrs)

"""The web UI's forms for locations, storages, rclone configs and placement rules.

Each form's fields are the query parameters of the API operation it stands for, under the same
names, and are parsed by that operation's own declarations: the page refuses what the API refuses,
with the API's messages. The view then calls the same service as the API and hands any refusal
back to the form (``add_service_error``), which shows it next to the field the service names.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, ClassVar

from django import forms
from django.db.models import TextChoices

from catalogue.choices import ItemType, LocationCountry, LocationType, PhaseType, StorageInterface, StorageType
from catalogue.models import Location, LocationFacility, Storage
from catalogue.services.storages import rclone_config_clean
from core import params as p
from core import rclone
from core.contract import REGISTRY, Param
from core.errors import FieldError, FieldErrors, field_errors
from core.secrets import SECRET_OPTION_NAMES, is_secret_option
from lifecycle.models import PlacementRule
from lifecycle.services import RULE_KEYS
from ui.errors import refusals

PARAMETER_ROWS = 8  # key/value rows of the config form

# Suggestions for the rclone backend type (any backend rclone knows is accepted).
RCLONE_TYPES = ("local", "s3", "sftp", "webdav", "azureblob", "google cloud storage", "swift", "http", "ftp")


def operation_params(operation_id: str) -> dict[str, Param]:
    """The query parameters of a contract operation, by name."""
    for operation in REGISTRY:
        if operation.operation_id == operation_id:
            return {param.name: param for param in operation.params}
    raise LookupError(f"no operation {operation_id}")


def _choices(values: type[TextChoices], blank: str | None) -> list[tuple[str, str]]:
    """Select options showing the API's own values (what scripts and the docs use)."""
    options = [(value, value) for value in values.values]
    return [("", blank), *options] if blank is not None else options


def _text(label: str, *, max_length: int | None = None, required: bool = False, **kwargs: Any) -> forms.CharField:
    """A text field left to the operation's parameters and service to judge (``required`` only
    marks the input for the browser: the service words the refusal)."""
    attrs = {"required": True} if required else {}
    widget = forms.TextInput(attrs=attrs)
    return forms.CharField(label=label, max_length=max_length, required=False, widget=widget, **kwargs)


def _select(label: str, choices: list[tuple[str, str]], *, required: bool = False, **kwargs: Any) -> forms.CharField:
    """A select whose value is still parsed by the operation's enum parameter."""
    attrs = {"required": True} if required else {}
    return forms.CharField(label=label, required=False, widget=forms.Select(choices=choices, attrs=attrs), **kwargs)


class ContractForm(forms.Form):
    """A form for one contract operation: fields named after its parameters are parsed by them."""

    operation_id: ClassVar[str]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        params = operation_params(self.operation_id)
        for name in list(cleaned):
            param = params.get(name)
            if param is None:
                continue
            try:  # an empty field is an absent parameter, as in the API (Param.parse decides)
                cleaned[name] = param.parse(cleaned[name])
            except p.ParamError as exc:
                self.add_error(name, exc.msg)
        return cleaned

    def add_service_error(self, exc: Exception) -> None:
        """Show a service's refusal beside the field it names: the form's fields are named after
        the operation's parameters, as the services name what they refuse. A refusal naming no
        field of the form goes at the top."""
        for field, message in refusals(exc):
            self.add_error(field if field in self.fields else None, message)


class LocationForm(ContractForm):
    """``init_location``."""

    operation_id = "init_location"

    location_name = _text("Name", max_length=Location._meta.get_field("location_name").max_length, required=True)
    location_type = _select("Type", _choices(LocationType, "Choose a type"), required=True)
    location_country = _select("Country", _choices(LocationCountry, "Not given"))
    location_city = _text("City", max_length=Location._meta.get_field("location_city").max_length)
    location_facility = _select("Facility", [])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        facilities = LocationFacility.objects.values_list("id", flat=True)
        self.fields["location_facility"].widget.choices = [("", "None"), *((f, f) for f in facilities)]


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP])(i?)B?\s*$|^\s*(\d+)\s*B\s*$", re.IGNORECASE)


def size_in_bytes(text: str) -> str:
    """A capacity as the API takes it (whole bytes, as text): ``500 GB``, ``2 TiB``, ``1.5T`` and
    ``100 B`` are converted (K, M, G… are powers of 1000, Ki, Mi, Gi… of 1024); anything else is
    left as it is, for the API's integer parameter to take or refuse."""
    match = _SIZE.match(text)
    if not match:
        return text
    number, prefix, binary, plain = match.groups()
    if plain is not None:
        return plain
    power = "KMGTP".index(prefix.upper()) + 1
    factor = 1024**power if binary else 1000**power
    return str(round(float(number) * factor)) if "." in number else str(int(number) * factor)


class StorageForm(ContractForm):
    """``init_storage`` (the query-parameter form; the location is chosen by id)."""

    operation_id = "init_storage"

    storage_name = _text("Name", max_length=Storage._meta.get_field("storage_name").max_length, required=True)
    location_id = _select("Location", [], required=True)
    storage_type = _select("Type", _choices(StorageType, "Choose a type"), required=True)
    storage_interface = _select("Interface", _choices(StorageInterface, "Choose an interface"), required=True)
    root_directory = _text(
        "Root directory",
        max_length=Storage._meta.get_field("root_directory").max_length,
        required=True,
        help_text="Where the storage's items live, as the storage's rclone remote sees it, e.g. /data.",
    )
    storage_capacity = _text(
        "Capacity",
        help_text="Bytes, or with a unit: 500 GB, 2 TiB. Empty: unknown.",
    )
    storage_phase = _select("Phase", _choices(PhaseType, None), initial=PhaseType.GAS.value)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        locations = Location.objects.values_list("location_id", "location_name")
        self.fields["location_id"].widget.choices = [("", "Choose a location"), *((str(i), n) for i, n in locations)]
        self.fields["storage_capacity"].widget.attrs["inputmode"] = "decimal"

    def clean_storage_capacity(self) -> str:
        return size_in_bytes(self.cleaned_data["storage_capacity"])

    def service_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``storage_create``."""
        return {name: self.cleaned_data[name] for name in self.fields}


class ConfigForm(forms.Form):
    """An rclone remote definition for a storage (``create_storage_config``'s body), entered as
    fields: its name, backend type, options as key/value rows, and root path."""

    name = _text("Remote name", required=True, help_text="rclone's name for the remote.")
    type = _text("Backend type", required=True, help_text="rclone's backend: local, s3, sftp, webdav…")
    root_path = _text(
        "Root path",
        help_text="Where the storage starts on the remote (a bucket for S3, a directory for local or SFTP). Empty: /.",
    )
    check_remote = forms.BooleanField(
        label="Check the remote before saving",
        required=False,
        initial=True,
        help_text="rclone tries the remote with this definition; nothing is saved if it cannot reach it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["type"].widget.attrs["list"] = "rclone-types"
        for row in range(PARAMETER_ROWS):
            key = self._raw(f"param_key_{row}")
            self.fields[f"param_key_{row}"] = forms.CharField(
                label=f"Option {row + 1} name", required=False, widget=forms.TextInput(attrs={"data-option-key": ""})
            )
            value_attrs = {"data-option-value": "", "autocomplete": "off"}
            widget = (
                forms.PasswordInput(attrs={**value_attrs, "autocomplete": "new-password"}, render_value=False)
                if key and is_secret_option(key)
                else forms.TextInput(attrs=value_attrs)
            )
            self.fields[f"param_value_{row}"] = forms.CharField(
                label=f"Option {row + 1} value", required=False, strip=False, widget=widget
            )
        self.config: dict[str, Any] = {}

    def _raw(self, name: str) -> str:
        return str(self.data.get(self.add_prefix(name), "")).strip() if self.is_bound else ""

    @property
    def parameter_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"param_key_{row}"], self[f"param_value_{row}"]) for row in range(PARAMETER_ROWS)]

    @property
    def has_secret_rows(self) -> bool:
        return any(is_secret_option(self._raw(f"param_key_{row}")) for row in range(PARAMETER_ROWS))

    @staticmethod
    def secret_rule() -> dict[str, Any]:
        """What the page's script needs to mask secret-looking options as they are typed."""
        return {
            "names": sorted(SECRET_OPTION_NAMES),
            "contains": ["secret", "password"],
            "ends": ["_pass", "_token", "_passphrase"],
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        parameters: dict[str, str] = {}
        for row in range(PARAMETER_ROWS):
            key, value = cleaned.get(f"param_key_{row}", ""), cleaned.get(f"param_value_{row}", "")
            if not key:
                if value:
                    self.add_error(f"param_key_{row}", "An option name is needed for this value.")
                continue
            if key in parameters:
                self.add_error(f"param_key_{row}", f"The option {key} is given twice.")
                continue
            parameters[key] = value
        self.config = {"name": cleaned.get("name", ""), "type": cleaned.get("type", "")}
        if parameters:
            self.config["parameters"] = parameters
        if cleaned.get("root_path"):
            self.config["root_path"] = cleaned["root_path"]
        try:  # the service's own check of the definition's shape, so that every error shows at once
            rclone_config_clean(self.config)
        except (FieldError, FieldErrors) as exc:
            self.add_service_error(exc)
        return cleaned

    def _field_at(self, at: tuple[Any, ...]) -> str | None:
        """The field showing the part ``at`` of the definition (``("name",)``, ``("parameters", key)``)."""
        if len(at) > 1 and at[0] == "parameters":
            for row in range(PARAMETER_ROWS):
                if self.cleaned_data.get(f"param_key_{row}") == at[1]:
                    return f"param_key_{row}"
            return None
        return at[0] if at and at[0] in {"name", "type", "root_path"} else None

    def add_service_error(self, exc: Exception) -> None:
        """A refusal of ``storage_config_create``: beside its field where a part of the definition
        is malformed; the refusal of the definition as a whole (rclone's reason, secrets masked)
        beside the remote check."""
        if isinstance(exc, FieldError | FieldErrors):
            for error in field_errors(exc):
                self.add_error(self._field_at(error.at) if error.field == "config" else None, error.message)
            return
        for field, message in refusals(exc):
            message = rclone.mask(message, rclone.secret_values(self.config))
            self.add_error("check_remote" if field == "config" else None, message)


def iso_duration(delta: timedelta | None) -> str:
    """A duration as ISO-8601 (``P30D``, ``P1DT12H``, ``PT90S``), as a rule's lifetime is written
    (empty for none)."""
    if delta is None:
        return ""
    seconds = delta.total_seconds()
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, rest = divmod(rest, 60)
    clock = "".join(f"{value:g}{unit}" for value, unit in ((hours, "H"), (minutes, "M"), (rest, "S")) if value)
    text = (f"{days:g}D" if days else "") + (f"T{clock}" if clock else "")
    return f"{sign}P{text or 'T0S'}"


class RuleForm(ContractForm):
    """A placement rule (``create_rule`` and ``update_rule``'s body): one field per key of the
    rule's JSON form (``lifecycle.services.RULE_KEYS``), under the same names. The service reads
    and judges every value, as it does the API's body, and names the key it refuses, which is
    this form's field of that name. Storages are chosen by name; the lifetime is an ISO-8601
    duration."""

    operation_id = "create_rule"

    name = _text("Name", max_length=PlacementRule._meta.get_field("name").max_length, required=True)
    enabled = forms.BooleanField(
        label="Enabled", required=False, initial=True, help_text="A disabled rule asks for nothing and keeps nothing."
    )
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )
    item_name_pattern = _text(
        "Item name pattern",
        help_text="A glob (* any text, ? one character, [abc] one of); without a wildcard, a name prefix. "
        "Empty: every item.",
    )
    source_storage_name = _select("Items with a READY copy on", [])
    item_type = _select("Item type", _choices(ItemType, "Any type"))
    metadata_key = _text("Metadata key", help_text="Items whose metadata has this key (empty: any metadata).")
    metadata_value = _text("Metadata value", help_text="…with this value (compared as text; empty: any value).")
    copies = _text("Copies", help_text="How many copies the items need on storages of the minimum phase or more.")
    min_phase = _select("Minimum phase", _choices(PhaseType, "None"))
    storage_name = _select("A copy on the storage", [])
    lifetime = _text(
        "Lifetime",
        help_text="How long a copy the rule makes is kept: an ISO-8601 duration such as P30D or PT12H. "
        "Empty: the copy keeps its source's expiry.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = [
            (name, name) for name in Storage.objects.order_by("storage_name").values_list("storage_name", flat=True)
        ]
        self.fields["source_storage_name"].widget.choices = [("", "Any storage"), *names]
        self.fields["storage_name"].widget.choices = [("", "None"), *names]
        self.fields["copies"].widget.attrs["inputmode"] = "numeric"
        self.fields["lifetime"].widget.attrs["placeholder"] = "P30D"

    @classmethod
    def initial_of(cls, rule: PlacementRule) -> dict[str, Any]:
        """The form's values for an existing rule."""
        return {
            "name": rule.name,
            "enabled": rule.enabled,
            "description": rule.description,
            "item_name_pattern": rule.item_name_pattern,
            "source_storage_name": rule.source_storage.storage_name if rule.source_storage else "",
            "item_type": rule.item_type,
            "metadata_key": rule.metadata_key,
            "metadata_value": rule.metadata_value,
            "copies": "" if rule.copies is None else str(rule.copies),
            "min_phase": rule.min_phase,
            "storage_name": rule.storage.storage_name if rule.storage else "",
            "lifetime": iso_duration(rule.lifetime),
        }

    def rule_body(self) -> dict[str, Any]:
        """The rule's JSON form, every key given: an empty field is null (none, any). A number of
        copies that is not a whole number is passed as typed, for the service to refuse."""
        data = self.cleaned_data
        body: dict[str, Any] = {key: data.get(key, "") for key in RULE_KEYS}
        body["enabled"] = bool(data.get("enabled"))
        copies = (data.get("copies") or "").strip()
        body["copies"] = int(copies) if copies.isascii() and copies.isdigit() else (copies or None)
        for key in ("source_storage_name", "storage_name", "lifetime"):
            body[key] = (data.get(key) or "").strip() or None
        return body

"""``manage.py dlm_bootstrap``: the LOCATION_CONFIG / STORAGE_CONFIG files of the upstream deployment."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalogue.models import Location, Storage, StorageConfig
from catalogue.services import storage_config_create
from core.secrets import join_secrets
from tests.factories import make_location, make_storage

pytestmark = pytest.mark.django_db

# The upstream default deployment (contract §5, "Start-up bootstrap").
LOCATIONS = [{"name": "local", "type": "local-dev", "country": "AU", "city": "Perth", "facility": "local"}]
STORAGES = [
    {
        "name": "local",
        "location": "local",
        "storage_type": "filesystem",
        "interface": "posix",
        "root_directory": "/",
        "config": {"name": "local", "type": "alias", "parameters": {"remote": "/"}},
    },
    {
        "name": "dlm-archive",
        "location": "local",
        "storage_type": "filesystem",
        "interface": "sftp",
        "root_directory": "/data",
        "storage_phase": "liquid",
        "config": {
            "name": "dlm-archive",
            "type": "sftp",
            "parameters": {"host": "dlm_archive", "user": "ska-dlm", "pass": "archive-password-123"},
        },
    },
]


@pytest.fixture
def write_json(tmp_path):
    def write(name: str, content) -> str:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    return write


def bootstrap(**files) -> str:
    out = StringIO()
    call_command("dlm_bootstrap", stdout=out, **files)
    return out.getvalue()


def catalogue_counts() -> tuple[int, int, int]:
    return Location.objects.count(), Storage.objects.count(), StorageConfig.objects.count()


def test_bootstrap_creates_the_locations_storages_and_configs(write_json):
    output = bootstrap(locations=write_json("loc.json", LOCATIONS), storages=write_json("st.json", STORAGES))

    assert "1 location(s), 2 storage(s), 2 config(s) created" in output
    location = Location.objects.get()
    assert location.location_name == "local"
    assert location.location_type == "local-dev"
    assert location.location_country == "AU"
    assert location.location_city == "Perth"
    assert location.location_facility_id == "local"

    local = Storage.objects.get(storage_name="local")
    assert local.location_id == location.location_id
    assert local.storage_type == "filesystem"
    assert local.storage_interface == "posix"
    assert local.root_directory == "/"
    assert local.storage_phase == "SOLID"  # the default when the entry has none

    archive = Storage.objects.get(storage_name="dlm-archive")
    assert archive.storage_interface == "sftp"
    assert archive.root_directory == "/data"
    assert archive.storage_phase == "LIQUID"  # upper-cased

    local_config = StorageConfig.objects.get(storage=local)
    assert local_config.config_type == "rclone"
    assert local_config.config == {"name": "local", "type": "alias", "parameters": {"remote": "/"}, "root_path": "/"}
    archive_config = StorageConfig.objects.get(storage=archive)
    assert "pass" not in archive_config.config["parameters"]  # stored apart, encrypted
    assert join_secrets(archive_config.config, archive_config.secrets)["parameters"]["pass"] == "archive-password-123"
    # Each new config's remote is tried: "local" is there; host dlm_archive is not, which does not
    # stop the provisioning (tests/api/test_storage_access.py has the warning it logs).
    assert local.storage_checked is True
    assert archive.storage_checked is False
    assert archive.storage_last_checked is not None


def test_bootstrap_twice_creates_nothing_new(write_json):
    files = {"locations": write_json("loc.json", LOCATIONS), "storages": write_json("st.json", STORAGES)}
    bootstrap(**files)
    before = {
        "locations": list(Location.objects.values_list("location_id", flat=True)),
        "storages": list(Storage.objects.values_list("storage_id", flat=True)),
        "configs": list(StorageConfig.objects.values_list("config_id", flat=True)),
    }

    output = bootstrap(**files)

    assert "0 location(s), 0 storage(s), 0 config(s) created" in output
    assert list(Location.objects.values_list("location_id", flat=True)) == before["locations"]
    assert list(Storage.objects.values_list("storage_id", flat=True)) == before["storages"]
    assert list(StorageConfig.objects.values_list("config_id", flat=True)) == before["configs"]


def test_bootstrap_leaves_existing_objects_alone(write_json):
    location = make_location(location_name="local", location_type="mid-operations", location_country="ZA")
    make_storage(location, storage_name="local", root_directory="/elsewhere")

    output = bootstrap(locations=write_json("loc.json", LOCATIONS), storages=write_json("st.json", STORAGES))

    assert "0 location(s), 1 storage(s), 2 config(s) created" in output
    location.refresh_from_db()
    assert location.location_type == "mid-operations"
    assert Storage.objects.get(storage_name="local").root_directory == "/elsewhere"
    # A storage without a config gets the one from the file.
    assert StorageConfig.objects.filter(storage__storage_name="local").count() == 1


def test_bootstrap_does_not_add_a_config_to_a_storage_that_has_one(write_json):
    storage = make_storage(storage_name="local")
    storage_config_create(config={"name": "mine", "type": "local"}, storage_id=storage.storage_id)
    entry = {**STORAGES[0], "location": storage.location.location_name}

    bootstrap(storages=write_json("st.json", [entry]))

    assert [c.config["name"] for c in StorageConfig.objects.filter(storage=storage)] == ["mine"]


def test_bootstrap_with_only_a_location_file(write_json):
    output = bootstrap(locations=write_json("loc.json", LOCATIONS))

    assert "1 location(s), 0 storage(s), 0 config(s) created" in output
    assert catalogue_counts() == (1, 0, 0)


def test_bootstrap_storage_without_config_creates_only_the_storage(write_json):
    entry = {key: value for key, value in STORAGES[0].items() if key != "config"}

    bootstrap(locations=write_json("loc.json", LOCATIONS), storages=write_json("st.json", [entry]))

    assert catalogue_counts() == (1, 1, 0)


@pytest.mark.parametrize(
    ("bad_entry", "named"),
    [
        ({"location": "nowhere"}, "nowhere"),
        ({"storage_type": "disk"}, "storage_type"),
        ({"interface": "floppy"}, "storage_interface"),
        ({"storage_phase": "vapour"}, "storage_phase"),
        ({"config": {"name": "no-type"}}, "type"),
        ({"config": {"name": "x", "type": "sftp", "parameters": {"host name": "h"}}}, "host name"),
        ({"config": "alias"}, "config"),
        ({"config": ["alias"]}, "config"),
        ({"root_directory": 5}, "root_directory"),
    ],
)
def test_bootstrap_bad_storage_entry_fails_naming_it_and_writes_nothing(write_json, bad_entry, named):
    storages = [STORAGES[0], {**STORAGES[1], **bad_entry}]

    with pytest.raises(CommandError) as error:
        bootstrap(locations=write_json("loc.json", LOCATIONS), storages=write_json("st.json", storages))

    message = str(error.value)
    assert "STORAGE_CONFIG entry #1 (name 'dlm-archive')" in message
    assert named in message
    assert catalogue_counts() == (0, 0, 0)  # all or nothing: not even the valid entries


@pytest.mark.parametrize(
    ("bad_entry", "named"),
    [
        ({"type": "moon-base"}, "location_type"),
        ({"country": "FR"}, "location_country"),
        ({"facility": "Area 51"}, "foreign key"),
        ({"name": ""}, "location_name"),
        ({"name": "n" * 300}, "location_name"),
        ({"city": {"name": "Perth"}}, "city"),
        ({"facility": ["local"]}, "facility"),
    ],
)
def test_bootstrap_bad_location_entry_fails_naming_it_and_writes_nothing(write_json, bad_entry, named):
    locations = [*LOCATIONS, {**LOCATIONS[0], "name": "second", **bad_entry}]

    with pytest.raises(CommandError) as error:
        bootstrap(locations=write_json("loc.json", locations), storages=write_json("st.json", STORAGES))

    message = str(error.value)
    assert "LOCATION_CONFIG entry #1 (name " in message
    assert named in message
    assert catalogue_counts() == (0, 0, 0)


@pytest.mark.parametrize(
    "content",
    ['[{"name": "local"', "{}", '{"name": "local"}', '["local"]', "", "null"],
    ids=["truncated", "empty object", "object", "list of strings", "empty file", "null"],
)
def test_bootstrap_malformed_file_is_a_command_error(write_json, content):
    with pytest.raises(CommandError) as error:
        bootstrap(locations=write_json("loc.json", content))

    assert "LOCATION_CONFIG" in str(error.value)
    assert catalogue_counts() == (0, 0, 0)


def test_bootstrap_malformed_storage_file_undoes_the_locations(write_json):
    with pytest.raises(CommandError) as error:
        bootstrap(locations=write_json("loc.json", LOCATIONS), storages=write_json("st.json", "[not json"))

    assert "STORAGE_CONFIG" in str(error.value)
    assert catalogue_counts() == (0, 0, 0)


def test_bootstrap_missing_file_is_a_command_error(tmp_path):
    missing = tmp_path / "absent.json"

    with pytest.raises(CommandError) as error:
        bootstrap(storages=str(missing))

    assert str(missing) in str(error.value)


def test_bootstrap_reads_the_files_named_in_settings(write_json, settings):
    settings.LOCATION_CONFIG = write_json("loc.json", LOCATIONS)
    settings.STORAGE_CONFIG = write_json("st.json", STORAGES)

    bootstrap()

    assert catalogue_counts() == (1, 2, 2)

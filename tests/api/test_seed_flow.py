"""The seed workflow end to end, as a pipeline script would run it: a location, an S3 storage
("Acacia") with its config, a registration that DLM checks against the bucket, then queries."""

from __future__ import annotations

import hashlib

import pytest

from catalogue.models import DataItem, StorageConfig

pytestmark = pytest.mark.django_db


def test_seed_workflow_up_to_registration_on_s3(api, s3_server, caplog):
    payload = b"visibilities " * 1000
    (s3_server.root / "bucket1" / "eb-001").mkdir(exist_ok=True)
    (s3_server.root / "bucket1" / "eb-001" / "vis.fits").write_bytes(payload)
    parameters = s3_server.config["parameters"]

    location_id = api.post(
        "/storage/init_location",
        {"location_name": "Pawsey", "location_type": "low-operations", "location_country": "AU",
         "location_facility": "Pawsey Centre"},
    ).json()  # fmt: skip
    storage_id = api.post(
        "/storage/init_storage",
        {"storage_name": "Acacia", "storage_type": "objectstore", "storage_interface": "s3",
         "root_directory": "/bucket1", "location_id": location_id, "storage_phase": "SOLID"},
    ).json()  # fmt: skip
    config = {
        "name": "acacia",
        "type": "s3",
        "parameters": {
            "provider": "Ceph",  # as a Ceph gateway such as Acacia is configured
            "endpoint": parameters["endpoint"],
            "access_key_id": parameters["access_key_id"],
            "secret_access_key": parameters["secret_access_key"],
        },
    }
    response = api.post("/storage/create_storage_config", {"storage_name": "Acacia"}, config)
    assert response.status_code == 200, response.content
    assert StorageConfig.objects.filter(storage_id=storage_id).count() == 1

    response = api.post(
        "/ingest/register_data_item",
        {"item_name": "eb-001/vis.fits", "uri": "eb-001/vis.fits", "storage_name": "Acacia"},
        {"observer": "me"},
    )
    assert response.status_code == 200, response.content
    uid = response.json()

    rows = api.get("/request/query_data_item", {"item_name": "eb-001/vis.fits"}).json()
    assert [row["uid"] for row in rows] == [uid]
    assert rows[0]["item_state"] == "READY"
    assert rows[0]["item_size"] == len(payload)
    assert rows[0]["item_checksum"] == hashlib.md5(payload).hexdigest()
    assert rows[0]["metadata"] == {"observer": "me", "uid": uid, "item_name": "eb-001/vis.fits"}
    assert api.get("/request/query_item_storage", {"uid": uid}).json() == [
        {"oid": uid, "uid": uid, "item_name": "eb-001/vis.fits", "storage_id": storage_id, "uri": "eb-001/vis.fits"}
    ]
    shown = api.get("/storage/get_storage_config", {"storage_name": "Acacia"}).json()
    assert shown[0]["parameters"]["secret_access_key"] == "***"
    assert s3_server.secret not in caplog.text
    assert DataItem.objects.get(uid=uid).last_check is not None

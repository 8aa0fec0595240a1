"""How audited models record their writes: update(), save(), bulk_create() and delete() while an
actor is set, at a small fixed cost, in the change's transaction; nothing without an actor."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.db.models import F
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from audit.middleware import AuditActorMiddleware
from audit.models import AuditRecord
from audit.services import audit_record
from catalogue.models import DataItem, Location, LocationFacility, Storage, StorageConfig
from catalogue.services import data_item_insert, data_items_insert, location_create
from core.actor import acting, current_actor, unattended
from tests.audit.conftest import raw_audit_rows, records
from tests.factories import make_copy_job, make_item, make_storage

pytestmark = pytest.mark.django_db


def _audit_statements(queries) -> list[str]:
    return [q["sql"] for q in queries if "audit_record" in q["sql"]]


def test_a_single_row_update_costs_two_statements(db):
    item = make_item(make_storage())
    rows = DataItem.objects.filter(uid=item.uid)
    with CaptureQueriesContext(connection) as plain:
        rows.update(item_format="fits")
    with acting(username="ops", user_id=None, auth="command", via="command", operation="t"):
        with CaptureQueriesContext(connection) as audited:
            rows.update(item_format="hdf5")

    assert len(plain) == 1
    extra = [q["sql"] for q in audited if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(extra) == 3, extra  # the read of the old value, the UPDATE, one INSERT of the record
    assert [r.changes for r in records()] == [{"item_format": ["fits", "hdf5"]}]


def test_an_update_from_an_expression_records_the_values_it_made(db):
    storage = make_storage()
    Storage.objects.filter(pk=storage.pk).update(storage_num_objects=3)
    with acting(username="ops", user_id=None, auth="command", via="command", operation="t"):
        Storage.objects.filter(pk=storage.pk).update(storage_num_objects=F("storage_num_objects") + 2)
    assert [r.changes for r in records()] == [{"storage_num_objects": [3, 5]}]


def test_an_update_records_only_the_rows_it_changed(actor):
    storage = make_storage()
    ready = make_item(storage, item_state="READY", item_owner="a")
    other = make_item(storage, item_state="INITIALISED", item_owner="b")
    made = AuditRecord.objects.count()

    count = DataItem.objects.filter(storage=storage).update(item_owner="a", item_size=Decimal("10"))

    assert count == 2
    changes = {r.object_id: r.changes for r in records(action="update")}
    assert changes == {
        str(ready.uid): {"item_size": [None, 10]},
        str(other.uid): {"item_owner": ["b", "a"], "item_size": [None, 10]},
    }
    assert AuditRecord.objects.count() == made + 2


def test_save_records_the_columns_that_changed(actor):
    storage = make_storage()
    storage.storage_use_pct = Decimal("12.5")
    storage.storage_phase = "SOLID"
    storage.save()
    storage.save()  # nothing changed: nothing recorded
    storage.storage_retired = True
    storage.save(update_fields=["storage_retired"])

    updates = records(object_type="storage", action="update")
    assert [r.changes for r in updates] == [
        {"storage_use_pct": [0, 12.5], "storage_phase": ["GAS", "SOLID"]},
        {"storage_retired": [False, True]},
    ]


def test_a_snapshot_is_json_ready(actor):
    facility = LocationFacility(id="Somewhere")
    facility.save()
    location = location_create(location_name="here", location_type="local-dev", location_facility="Somewhere")

    [facility_record] = records(object_type="location_facility")
    assert facility_record.changes == {"id": "Somewhere"}
    [record] = records(object_type="location")
    assert record.object_id == str(location.location_id)
    assert record.changes["location_id"] == str(location.location_id)
    assert record.changes["location_facility_id"] == "Somewhere"
    assert record.changes["location_date"] == location.location_date.isoformat()


def test_bulk_create_records_every_row_in_one_statement(actor):
    storage = make_storage()
    with CaptureQueriesContext(connection) as queries:
        items = data_items_insert(rows=[{"item_name": f"n{n}", "storage_id": storage.storage_id} for n in range(20)])

    assert len(_audit_statements(queries)) == 1
    made = records(object_type="data_item")
    assert [(r.action, r.object_id) for r in made] == [("create", str(item.uid)) for item in items]
    assert made[0].changes["item_name"] == "n0" and made[0].changes["storage_id"] == str(storage.storage_id)


def test_a_large_bulk_create_records_every_row(actor):
    # From 100 records on, PostgreSQL takes them by COPY (in the same transaction).
    storage = make_storage()
    with transaction.atomic():
        items = data_items_insert(
            rows=[{"item_name": f"n{n}", "storage_id": storage.storage_id, "metadata": {"n": n}} for n in range(250)]
        )
    made = records(object_type="data_item")
    assert [r.object_id for r in made] == [str(item.uid) for item in items]
    assert [r.changes["metadata"] for r in made] == [{"n": n} for n in range(250)]
    assert {(r.username, r.via, r.operation) for r in made} == {("ops", "command", "test")}
    assert len({r.at for r in made}) == 1


def test_deletes_are_recorded_with_the_last_values_in_one_statement(actor):
    storage = make_storage()
    items = [make_item(storage, item_name=f"d{n}") for n in range(3)]
    config = StorageConfig.objects.create(storage=storage, config={"name": "x", "type": "local"}, secrets=[["k", "v"]])
    DataItem.objects.filter(storage=storage).update(storage=None)  # (items protect their storage)
    made = AuditRecord.objects.count()

    with CaptureQueriesContext(connection) as queries:
        DataItem.objects.filter(uid__in=[item.uid for item in items]).delete()
    storage_id = storage.storage_id
    storage.delete()  # and its config, by cascade

    assert len(_audit_statements(queries)) == 1
    deleted = records(action="delete")
    assert AuditRecord.objects.count() == made + 5
    assert {(r.object_type, r.object_id) for r in deleted} == {
        *(("data_item", str(item.uid)) for item in items),
        ("storage", str(storage_id)),
        ("storage_config", str(config.config_id)),
    }
    assert {r.changes["item_name"] for r in deleted if r.object_type == "data_item"} == {"d0", "d1", "d2"}
    assert next(r for r in deleted if r.object_type == "storage_config").changes["secrets"] == "***"


def test_secrets_of_a_storage_config_are_masked_however_they_are_written(actor):
    storage = make_storage()
    config = StorageConfig.objects.create(
        storage=storage,
        config={"name": "x", "type": "sftp", "parameters": {"host": "h", "pass": "In-Config-Secret"}},
        secrets=[[["parameters", "key_file_pass"], "Secret-One"]],
    )
    StorageConfig.objects.filter(pk=config.pk).update(secrets=[[["parameters", "key_file_pass"], "Secret-Two"]])
    config.refresh_from_db()
    config.secrets = [[["parameters", "key_file_pass"], "Secret-Three"]]
    config.config = {**config.config, "parameters": {"host": "h2", "token": "Token-Secret"}}
    config.save()

    created, updated, saved = records(object_type="storage_config")
    assert created.changes["secrets"] == "***"
    assert created.changes["config"]["parameters"] == {"host": "h", "pass": "***"}
    assert updated.changes == {"secrets": ["***", "***"]}
    assert saved.changes["secrets"] == ["***", "***"]
    assert saved.changes["config"][1]["parameters"] == {"host": "h2", "token": "***"}
    trail = raw_audit_rows()
    for secret in ("In-Config-Secret", "Secret-One", "Secret-Two", "Secret-Three", "Token-Secret"):
        assert secret not in trail


def test_an_unchanged_secret_is_not_recorded(actor):
    config = StorageConfig.objects.create(
        storage=make_storage(), config={"name": "x", "type": "local"}, secrets=[["k", "v"]]
    )
    StorageConfig.objects.filter(pk=config.pk).update(secrets=[["k", "v"]])
    config.save()
    assert [r.action for r in records(object_type="storage_config")] == ["create"]


def test_a_change_rolled_back_leaves_no_record(actor):
    item = make_item(make_storage())
    made = AuditRecord.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        DataItem.objects.filter(uid=item.uid).update(item_state="READY")
        raise RuntimeError("the rest of the change failed")
    assert DataItem.objects.get(uid=item.uid).item_state == "INITIALISED"
    assert AuditRecord.objects.count() == made


def test_nothing_is_recorded_without_an_actor_or_when_unattended(db):
    storage = make_storage()
    item = data_item_insert(fields={"item_name": "x", "storage_id": storage.storage_id})
    DataItem.objects.filter(uid=item.uid).update(item_state="READY")
    job = make_copy_job(storage, make_storage(), oid=item.oid, source_uid=item.uid, destination_uid=item.uid)
    with acting(username="ops", user_id=None, auth="command", via="command", operation="t"), unattended():
        assert current_actor() is None
        job.bytes_done = 5
        job.save()
    job.delete()
    location_create(location_name="bare", location_type="local-dev")
    assert Location.objects.filter(storages=None).delete()[0] == 1
    assert records() == []


def test_the_audit_record_service(db):
    assert audit_record(action="update", object_type="storage", object_id="s", changes={}) is False
    with pytest.raises(ValueError, match="explicit actor"):
        audit_record(action="update", object_type="storage", object_id="s", changes={}, force=True)
    with pytest.raises(ValueError, match="unknown audit object type"):
        audit_record(action="update", object_type="bucket", object_id="s", changes={})
    with acting(username="sys", user_id=None, auth="system", via="command", operation="sweep") as who:
        pass

    assert audit_record(
        action="delete",
        object_type="data_item",
        object_id="u-1",
        changes={"size": Decimal("1.5"), "secret_access_key": "Plain-Secret", "nested": {"password": "P"}},
        actor=who,
        force=True,
    )
    [record] = records()
    assert (record.username, record.auth, record.operation) == ("sys", "system", "sweep")
    assert record.changes == {"size": 1.5, "secret_access_key": "***", "nested": {"password": "***"}}


def test_the_session_middleware_sets_the_actor_of_a_changing_request(db):
    user = get_user_model().objects.create_user("kim")
    seen = []

    def view(request):
        seen.append(current_actor())
        if request.method == "POST":
            location_create(location_name=f"made-{len(seen)}", location_type="local-dev")
        return HttpResponse("ok")

    middleware = AuditActorMiddleware(view)
    factory = RequestFactory()
    for method, path, who in (
        ("post", "/no/such/page", user),
        ("post", "/admin/auth/user/", user),
        ("get", "/admin/auth/user/", user),
        ("post", "/login", AnonymousUser()),
    ):
        request = getattr(factory, method)(path, REMOTE_ADDR="10.0.0.7")
        request.user = who
        middleware(request)

    assert [(a.via, a.operation, a.auth, a.username) if a else None for a in seen] == [
        ("ui", "ui:/no/such/page", "session", "kim"),
        ("admin", "admin:auth_user_changelist", "session", "kim"),
        None,
        None,
    ]
    made = records()
    assert [(r.via, r.operation, r.remote_addr, r.user_id) for r in made] == [
        ("ui", "ui:/no/such/page", "10.0.0.7", user.pk),
        ("admin", "admin:auth_user_changelist", "10.0.0.7", user.pk),
    ]
    assert current_actor() is None

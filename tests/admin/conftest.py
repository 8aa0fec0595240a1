"""Accounts for the admin console's tests, and one row of every model it shows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_q.models import Failure, OrmQ, Schedule, Success
from django_q.tasks import async_task

from accounts.models import ProviderIdentity
from accounts.roles import Role
from accounts.tokens import account_ensure, api_token_create
from audit.services import audit_record
from catalogue.models import LocationFacility
from catalogue.services.storages import storage_config_create
from core.actor import acting
from core.models import OutboxEvent
from events.models import Delivery, Subscription
from integrity.models import CheckState, Finding, FindingKind, FixityCheck, Scan, ScanState
from lifecycle.models import Hold, LifecyclePass, PlacementRule
from migrations_app.models import Deletion
from migrations_app.states import JobState
from tests.factories import make_copy_job, make_item, make_location, make_storage

# A secret no page may show: seeded into a stored config, looked for in every response.
SEEDED_SECRET = "SEEDED-s3cr3t-" + uuid.uuid4().hex


@pytest.fixture
def admin_account(db):
    """An account with the DLM admin role: not staff, no Django model permission."""
    user = account_ensure(username="ada", role=Role.ADMIN)
    assert not user.is_staff and not user.user_permissions.exists()
    return user


@pytest.fixture
def as_role(db) -> Callable[[str | None], Client]:
    """``as_role(role)``: a browser logged in as an account with that role (None: anonymous)."""

    def make(role: str | None) -> Client:
        client = Client()
        if role is not None:
            client.force_login(account_ensure(username=f"{role}-person", role=Role(role)))
        return client

    return make


@pytest.fixture
def admin_client(admin_account) -> Client:
    client = Client()
    client.force_login(admin_account)
    return client


def raw_table(table: str) -> str:
    """Every row of ``table`` exactly as stored, as text."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (a fixed name)
        return repr(cursor.fetchall())


@pytest.fixture
def seeded(db, admin_account) -> dict[str, Any]:
    """One row of every model the admin shows, a stored config holding ``SEEDED_SECRET``."""
    LocationFacility.objects.get_or_create(id="Seeded Facility")
    location = make_location()
    source, destination = make_storage(location), make_storage(location)
    config = storage_config_create(
        config={
            "name": "seeded",
            "type": "s3",
            "parameters": {"provider": "Rclone", "access_key_id": "AKSEED", "secret_access_key": SEEDED_SECRET},
        },
        storage_id=source.storage_id,
        check_remote=False,
    )
    item = make_item(source, item_state="READY")
    job = make_copy_job(item, destination, state=JobState.FAILED, last_error="rclone: no route to host")
    token_row, _ = api_token_create(user=admin_account, name="seeded token")
    ProviderIdentity.objects.create(user=admin_account, issuer="https://idp.example.org", subject="sub-123")
    Group.objects.get_or_create(name="auditors")
    if not Schedule.objects.exists():
        Schedule.objects.create(func="math.floor", args="1", schedule_type=Schedule.ONCE, next_run=timezone.now())
    now = timezone.now()
    Success.objects.create(
        id=uuid.uuid4().hex, name="seeded-success", func="math.floor", started=now, stopped=now, success=True
    )
    Failure.objects.create(
        id=uuid.uuid4().hex,
        name="seeded-failure",
        func="math.floor",
        started=now,
        stopped=now,
        success=False,
        result="boom",
    )
    async_task("math.floor", 1.5)  # a task in the ORM queue
    assert OrmQ.objects.exists()
    with acting(username="ops", user_id=None, auth="command", via="command", operation="seed"):
        audit_record(
            action="update",
            object_type="storage",
            object_id=str(source.pk),
            changes={"storage_phase": ["GAS", "SOLID"]},
        )
    PlacementRule.objects.create(name="seeded rule", storage=destination)
    LifecyclePass.objects.create(state="finished", counts={"rules": {"copy": 1}}, decisions=[{"step": "rules"}])
    Hold.objects.create(kind="expired-kept", subject=item.uid, oid=item.oid, item_name="x", reason="kept: seeded")
    Deletion.objects.create(uid=item.uid, oid=item.oid, storage=source, state="failed")
    FixityCheck.objects.create(item=item, storage=source, state=CheckState.PASSED)
    scan = Scan.objects.create(storage=source, state=ScanState.COMPLETED, finished_at=now, dark=1)
    Finding.objects.create(scan=scan, storage=source, kind=FindingKind.DARK, path="stray/seeded.dat")
    OutboxEvent.objects.create(event_type="dlm.migration.update", subjects={"migration_id": 1}, payload={})
    Delivery.objects.create(subscription=Subscription.objects.create(name="seeded hook", url="https://example.org/h", secret=SEEDED_SECRET), event_id=1, event_type="dlm.migration.update", event_created_at=now, state="failed", last_error="HTTP 500")  # noqa: E501  # fmt: skip
    return {"admin": admin_account, "config": config, "storage": source, "item": item, "job": job, "token": token_row}

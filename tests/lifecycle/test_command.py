"""``manage.py lifecycle`` and the scheduled pass."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from lifecycle import tasks
from lifecycle.models import LifecyclePass
from migrations_app.models import Deletion, Migration
from tests.factories import make_copy_job
from tests.lifecycle.helpers import expire, local_place, register, run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def expired_copy(tmp_path):
    gas, solid = local_place(tmp_path, "gas", "GAS"), local_place(tmp_path, "solid", "SOLID")
    item = register(gas, "obs/a.ms")
    make_copy_job(item, solid.storage)
    run_jobs()
    expire(item)
    return item


def test_a_dry_run_prints_what_it_would_do_and_does_nothing(expired_copy):
    out = StringIO()

    call_command("lifecycle", "--once", "--dry-run", stdout=out)

    text = out.getvalue()
    assert "Dry run" in text and "would delete obs/a.ms" in text and "expired at" in text
    assert not Deletion.objects.exists()


def test_once_runs_one_pass_and_reports_it_as_json(expired_copy):
    out = StringIO()

    call_command("lifecycle", "--once", "--json", stdout=out)

    report = json.loads(out.getvalue())
    assert report["state"] == "finished" and report["counts"]["uid-expiry"] == {"delete": 1}
    assert Deletion.objects.get().uid == expired_copy.uid
    assert LifecyclePass.objects.get(pk=report["pass_id"]).state == "finished"


def test_the_pass_is_scheduled_and_sets_its_next_run(expired_copy, settings):
    schedule = Schedule.objects.get(name=tasks.PASS_SCHEDULE)
    assert schedule.func == tasks.PASS_TASK and schedule.repeats == -1
    settings.DLM_LIFECYCLE_INTERVAL = 600

    result = tasks.lifecycle_pass_run()

    assert result["state"] == "finished" and result["counts"]["uid-expiry"] == {"delete": 1}
    schedule.refresh_from_db()
    assert 590 <= (schedule.next_run - timezone.now()).total_seconds() <= 600
    assert Migration.objects.count() == 1  # the test's own copy: nothing else asked for

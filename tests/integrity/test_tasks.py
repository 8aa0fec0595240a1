"""The integrity schedules: created by the migrations, each task run as the workers run it, and
each setting its next run from its own setting."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_q.models import Schedule

from integrity import tasks
from integrity.models import FixityCheck, Scan
from tests.lifecycle.helpers import local_place, register

pytestmark = pytest.mark.django_db


def _seconds_to_next_run(name: str) -> float:
    return (Schedule.objects.get(name=name).next_run - timezone.now()).total_seconds()


@pytest.mark.parametrize(
    ("name", "func"),
    [
        (tasks.FIXITY_SCHEDULE, "integrity.tasks.fixity_schedule_run"),
        (tasks.SCANS_SCHEDULE, "integrity.tasks.scans_due_run"),
        (tasks.MEASURE_SCHEDULE, "integrity.tasks.storages_measure_run"),
    ],
)
def test_each_schedule_is_there_and_repeats(name, func):
    schedule = Schedule.objects.get(name=name)
    assert schedule.func == func and schedule.repeats == -1


def test_the_fixity_schedule_queues_checks_and_sets_its_next_run(tmp_path, settings):
    settings.DLM_FIXITY_INTERVAL = 120
    settings.DLM_FIXITY_PERIOD = 240  # half the copies each run
    place = local_place(tmp_path, "disk", "GAS")
    for n in range(4):
        register(place, f"f{n}.bin", f"bytes {n}".encode())

    tasks.fixity_schedule_run()

    assert FixityCheck.objects.count() == 2
    assert 110 <= _seconds_to_next_run(tasks.FIXITY_SCHEDULE) <= 120


def test_the_scans_schedule_starts_a_scan_of_a_storage_never_scanned(tmp_path, settings):
    settings.DLM_SCAN_INTERVAL = 7 * 24 * 3600
    place = local_place(tmp_path, "disk", "GAS")

    result = tasks.scans_due_run()

    scan = Scan.objects.get(storage=place.storage)
    assert result == {"scans": [scan.scan_id]}
    assert 3590 <= _seconds_to_next_run(tasks.SCANS_SCHEDULE) <= 3600
    assert tasks.scans_due_run() == {"scans": []}  # one active scan a storage


def test_no_scan_is_scheduled_when_scans_are_off(tmp_path, settings):
    settings.DLM_SCAN_INTERVAL = 0
    local_place(tmp_path, "disk", "GAS")

    assert tasks.scans_due_run() == {"scans": []}
    assert not Scan.objects.exists()


def test_the_measure_records_a_local_storage_s_space_and_sets_its_next_run(tmp_path, settings):
    settings.DLM_STORAGE_MEASURE_INTERVAL = 900
    place = local_place(tmp_path, "disk", "GAS")

    tasks.storages_measure_run()

    place.storage.refresh_from_db()
    assert place.storage.storage_total_bytes > 0 and place.storage.storage_free_bytes >= 0
    assert place.storage.storage_measured_at is not None
    assert 890 <= _seconds_to_next_run(tasks.MEASURE_SCHEDULE) <= 900

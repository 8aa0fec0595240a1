"""The fixity checks' pace with a real rclone: each storage has its own clock, so that a storage
with a long queue of checks holds up no other; and the checks-a-second limit measured on a local
disk and on the S3 test server, from below (never faster) and, generously, from above (not
needlessly slower)."""

from __future__ import annotations

import time

import pytest
from django_q.models import Schedule

from integrity import pacing
from integrity.fixity import fixity_check_create, fixity_check_run
from integrity.models import CheckState, FixityCheck, FixityClock
from tests.integrity.test_fixity import DATA, Disk, local_disk, s3_disk

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_byte_limit(settings):
    settings.DLM_FIXITY_BYTES_PER_SECOND = 10**12  # only the checks-a-second limit paces here


def queued(disk: Disk, count: int, prefix: str = "f") -> list[FixityCheck]:
    """``count`` copies registered on ``disk``, a check of each queued."""
    return [fixity_check_create(uid=disk.register(f"{prefix}{n}.bin", DATA).uid, user="tester") for n in range(count)]


def started_span(checks: list[FixityCheck]) -> float:
    """Seconds from the first check's start to the last's, as their rows record them."""
    starts = sorted(FixityCheck.objects.filter(pk__in=[c.pk for c in checks]).values_list("started_at", flat=True))
    return (starts[-1] - starts[0]).total_seconds()


def test_a_storage_with_a_long_queue_holds_up_no_other(tmp_path, settings):
    settings.DLM_FIXITY_CHECKS_PER_SECOND = 1.0
    busy = local_disk(tmp_path / "busy")
    idle = local_disk(tmp_path / "idle")
    for _ in range(30):  # thirty checks on the busy storage took their moments: its clock is 30 s ahead
        assert pacing.slot_take(busy.storage.storage_id, size=len(DATA), max_wait=60).taken
    booked = FixityClock.objects.get(storage=busy.storage).next_at
    waiting = queued(busy, 1, "busy")[0]
    checks = queued(idle, 2, "idle")

    began = time.monotonic()
    assert fixity_check_run(checks[0].check_id) == CheckState.PASSED  # at once, not after the busy queue
    assert fixity_check_run(checks[1].check_id) == CheckState.PASSED  # a second later: its own pace
    elapsed = time.monotonic() - began

    assert 0.95 <= elapsed < 10, elapsed
    assert fixity_check_run(waiting.check_id) == CheckState.QUEUED  # the busy storage's check waits its turn
    again = Schedule.objects.get(name=f"fixity-{waiting.check_id}-at")
    assert abs((again.next_run - booked).total_seconds()) < 1
    assert FixityClock.objects.get(storage=busy.storage).next_at == booked


def test_two_storages_checked_in_turn_are_paced_each_by_its_own_clock(tmp_path, settings):
    """Four checks on each of two storages, run alternately: each storage's checks start a second
    apart, and the eight take about three seconds; one clock for both would need seven."""
    settings.DLM_FIXITY_CHECKS_PER_SECOND = 1.0
    first, second = local_disk(tmp_path / "first"), local_disk(tmp_path / "second")
    on_first, on_second = queued(first, 4, "a"), queued(second, 4, "b")

    began = time.monotonic()
    for one, other in zip(on_first, on_second, strict=True):
        assert fixity_check_run(one.check_id) == CheckState.PASSED
        assert fixity_check_run(other.check_id) == CheckState.PASSED
    elapsed = time.monotonic() - began

    assert started_span(on_first) >= 2.95 and started_span(on_second) >= 2.95
    assert 2.95 <= elapsed < 6.5, elapsed


@pytest.mark.parametrize("where", ["local", "s3"])
def test_checks_a_second_are_held_to_the_limit_on_each_kind_of_storage(where, tmp_path, settings, request):
    rate = 4.0
    settings.DLM_FIXITY_CHECKS_PER_SECOND = rate
    disk = local_disk(tmp_path / "rate") if where == "local" else s3_disk(request.getfixturevalue("s3_server"))
    checks = queued(disk, 9)

    began = time.monotonic()
    for check in checks:
        assert fixity_check_run(check.check_id) == CheckState.PASSED
    elapsed = time.monotonic() - began

    measured = (len(checks) - 1) / elapsed  # checks a second, from the first start to the last
    assert measured <= rate * 1.01, measured
    assert started_span(checks) >= (len(checks) - 1) / rate - 0.05
    assert measured >= rate / 3, measured  # a loaded machine slows the checks, not by this much

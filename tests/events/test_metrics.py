"""``GET /metrics``: the Prometheus text DLM answers, parsed as Prometheus parses it."""

from __future__ import annotations

import ipaddress
import time
import uuid
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from catalogue.capacity import storage_use
from core.env import TrustedNetwork
from core.models import OutboxEvent
from integrity.models import Finding, FindingKind, FindingStatus, Scan
from lifecycle.engine import lifecycle_pass
from migrations_app.models import Deletion
from migrations_app.states import JobState
from tests.factories import make_copy_job, make_item, make_storage
from tests.lifecycle.helpers import local_place, register, run_jobs


def scrape(api) -> dict[str, list]:
    """``/metrics`` parsed: family name -> its samples (name, labels, value)."""
    response = api.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {f.name: f.samples for f in text_string_to_metric_families(response.content.decode())}


def value(families: dict[str, list], sample: str, **labels: str) -> float:
    family = sample
    for suffix in ("_total", "_bucket", "_count", "_sum"):
        if sample.endswith(suffix) and sample.removesuffix(suffix) in families:
            family = sample.removesuffix(suffix)
    found = [s.value for s in families[family] if s.name == sample and s.labels == labels]
    assert len(found) == 1, (sample, labels, families[family])
    return found[0]


@pytest.fixture(autouse=True)
def no_trusted_networks(settings):
    settings.TRUSTED_NETWORKS = []


def test_metrics_need_a_token_or_a_trusted_network(anon_api, viewer_api, settings):
    assert anon_api.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 401
    bad = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope", REMOTE_ADDR="192.0.2.7")
    assert bad.status_code == 401
    assert viewer_api.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200  # any role's token
    settings.TRUSTED_NETWORKS = [TrustedNetwork(ipaddress.ip_network("10.0.0.0/8"), "prometheus", "viewer")]
    trusted = Client().get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert trusted.status_code == 200
    assert "dlm_copy_jobs" in trusted.content.decode()
    assert Client().get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 401


def test_metrics_count_jobs_and_copy_durations(viewer_api):
    now = timezone.now()
    make_copy_job(state=JobState.COMPLETED, started_at=now - timedelta(seconds=3), finished_at=now, bytes_done=1000)
    make_copy_job(state=JobState.COMPLETED, started_at=now - timedelta(seconds=100), finished_at=now, bytes_done=24)
    make_copy_job(state=JobState.FAILED)
    make_copy_job(state=JobState.QUEUED, date=now - timedelta(seconds=120))
    make_copy_job(state=JobState.QUEUED, next_attempt_at=now + timedelta(hours=1))  # not due yet
    storage = make_storage()
    Deletion.objects.create(uid=uuid.uuid4(), storage=storage, state=JobState.QUEUED)
    Deletion.objects.create(uid=uuid.uuid4(), storage=storage, state=JobState.COMPLETED, complete=True)

    families = scrape(viewer_api)

    assert value(families, "dlm_copy_jobs", state="completed") == 2
    assert value(families, "dlm_copy_jobs", state="failed") == 1
    assert value(families, "dlm_copy_jobs", state="queued") == 2
    assert value(families, "dlm_copy_jobs", state="running") == 0
    assert value(families, "dlm_deletion_jobs", state="queued") == 1
    assert value(families, "dlm_deletion_jobs", state="completed") == 1
    assert value(families, "dlm_copied_bytes_total") == 1024
    assert value(families, "dlm_copy_duration_seconds_count") == 2
    assert value(families, "dlm_copy_duration_seconds_bucket", le="1.0") == 0
    assert value(families, "dlm_copy_duration_seconds_bucket", le="5.0") == 1
    assert value(families, "dlm_copy_duration_seconds_bucket", le="300.0") == 2
    assert value(families, "dlm_copy_duration_seconds_sum") == pytest.approx(103, abs=0.01)
    assert 115 < value(families, "dlm_copy_jobs_oldest_queued_age_seconds") < 3600


def test_metrics_show_storage_use_lifecycle_integrity_and_outbox(viewer_api, tmp_path):
    place = local_place(tmp_path, "metrics-disk", "GAS", storage_capacity=100)
    register(place, "obs/a", b"x" * 60)
    make_item(place.storage, item_state="CORRUPTED", uri="obs/bad", item_size=1)
    scan = Scan.objects.create(storage=place.storage)
    Finding.objects.create(scan=scan, storage=place.storage, kind=FindingKind.DARK, path="stray")
    Finding.objects.create(
        scan=scan, storage=place.storage, kind=FindingKind.LOST, path="gone", status=FindingStatus.UNREPAIRABLE
    )
    lifecycle_pass()
    pending = OutboxEvent.objects.create(event_type="dlm.test", payload={})
    OutboxEvent.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(seconds=90))
    OutboxEvent.objects.create(event_type="dlm.test", payload={}, state="dead")

    families = scrape(viewer_api)

    name = "metrics-disk"
    use = storage_use(place.storage)
    assert value(families, "dlm_storage_used_bytes", storage=name) == use.used_bytes == 60
    assert value(families, "dlm_storage_capacity_bytes", storage=name) == 100
    assert value(families, "dlm_storage_use_percent", storage=name) == pytest.approx(60)
    assert value(families, "dlm_storage_use_level", storage=name, level=use.level) == 1
    assert sum(s.value for s in families["dlm_storage_use_level"] if s.labels["storage"] == name) == 1
    assert value(families, "dlm_corrupted_copies", storage=name) == 1
    assert value(families, "dlm_integrity_findings", kind="dark", status="open") == 1
    assert value(families, "dlm_integrity_findings", kind="lost", status="unrepairable") == 1
    assert value(families, "dlm_lifecycle_passes", state="finished") == 1
    assert value(families, "dlm_lifecycle_pass_duration_seconds") > 0
    assert value(families, "dlm_lifecycle_pass_finished_timestamp_seconds") == pytest.approx(
        timezone.now().timestamp(), abs=60
    )
    assert "dlm_lifecycle_decisions" in families
    pending_now = OutboxEvent.objects.filter(state="pending").count()  # the items' events besides
    assert value(families, "dlm_outbox_events", state="pending") == pending_now > 1
    assert value(families, "dlm_outbox_events", state="dead") == 1
    assert 89 < value(families, "dlm_outbox_oldest_pending_age_seconds") < 3600
    for family in ("dlm_queue_tasks", "dlm_queue_oldest_task_age_seconds", "dlm_worker_last_task_timestamp_seconds",
                   "dlm_scheduler_overdue_seconds"):  # fmt: skip
        assert family in families


@pytest.mark.parametrize(("used", "level"), [(79, "ok"), (85, "warn"), (95, "high")])
def test_a_storages_use_level_follows_the_watermarks(viewer_api, used, level):
    """Above DLM_STORAGE_WARN_PCT (80 %) a storage is at the warn level, above
    DLM_STORAGE_HIGH_PCT (90 %) at the high one: the level an alert on ``level="high"`` fires on."""
    storage = make_storage(storage_name="watermarked", storage_capacity=100)
    make_item(storage, item_state="READY", item_size=used)

    families = scrape(viewer_api)

    assert value(families, "dlm_storage_use_percent", storage="watermarked") == pytest.approx(used)
    levels = {
        s.labels["level"]: s.value for s in families["dlm_storage_use_level"] if s.labels["storage"] == "watermarked"
    }
    assert levels == {each: (1 if each == level else 0) for each in ("ok", "warn", "high")}


def test_api_requests_are_counted_by_operation_and_status(operator_api, viewer_api, tmp_path):
    source = local_place(tmp_path, "src", "GAS")
    local_place(tmp_path, "dst", "SOLID")
    item = register(source, "obs/f", b"y" * 10)
    before = scrape(viewer_api)

    def count(families, **labels):
        samples = families.get("dlm_api_requests", [])
        return sum(s.value for s in samples if s.name == "dlm_api_requests_total" and s.labels == labels)

    ok = operator_api.post("/migration/copy_data_item", {"uid": str(item.uid), "destination_name": "dst"})
    assert ok.status_code == 200, ok.content
    bad = operator_api.post("/migration/copy_data_item", {"uid": "not-a-uuid", "destination_name": "dst"})
    assert bad.status_code == 422
    run_jobs()
    after = scrape(viewer_api)

    labels = {"operation": "copy_data_item", "method": "POST"}
    assert count(after, **labels, status="200") - count(before, **labels, status="200") == 1
    assert count(after, **labels, status="422") - count(before, **labels, status="422") == 1
    latency = [
        s.value for s in after["dlm_api_request_duration_seconds"]
        if s.name == "dlm_api_request_duration_seconds_count" and s.labels == {"operation": "copy_data_item"}
    ]  # fmt: skip
    old = [
        s.value for s in before.get("dlm_api_request_duration_seconds", [])
        if s.name == "dlm_api_request_duration_seconds_count" and s.labels == {"operation": "copy_data_item"}
    ]  # fmt: skip
    assert latency[0] - (old[0] if old else 0) == 2
    assert value(after, "dlm_copy_jobs", state="completed") == 1
    assert value(after, "dlm_copied_bytes_total") == 10
    # neither the scrape itself nor unknown paths make label values
    viewer_api.get("/no/such/path")
    assert all(s.labels.get("operation") for s in scrape(viewer_api)["dlm_api_requests"])


def test_request_counts_of_every_gunicorn_worker_add_up(tmp_path):
    """Under gunicorn (2 workers, ``PROMETHEUS_MULTIPROC_DIR`` set as ``scripts/run`` sets it),
    every scrape, whichever worker answers it, counts the requests that all workers answered."""
    from tests.live_dlm import dlm_running

    shared = tmp_path / "prometheus"
    shared.mkdir()
    with dlm_running(tmp_path, name="metrics", env={"PROMETHEUS_MULTIPROC_DIR": str(shared)}) as dlm:
        auth = {"Authorization": f"Bearer {dlm.token}"}

        def heartbeats() -> list[float]:
            totals = []
            for _ in range(4):  # fresh connections: either worker may answer each scrape
                text = requests.get(f"{dlm.url}/metrics", headers=auth, timeout=30).text
                [family] = [f for f in text_string_to_metric_families(text) if f.name == "dlm_api_requests"]
                totals.append(sum(s.value for s in family.samples if s.labels.get("operation") == "heartbeat"))
            return totals

        # A start-up probe that gave up waiting may still be answered once a worker is up: take
        # the count once two rounds of scrapes agree on it.
        before, deadline = heartbeats(), time.monotonic() + 30
        while time.monotonic() < deadline:
            again = heartbeats()
            if len(set(before + again)) == 1:
                break
            before = again
            time.sleep(0.5)
        for _ in range(30):
            assert requests.get(f"{dlm.url}/heartbeat", timeout=10).status_code == 200
        after = heartbeats()

    assert len(set(before)) == 1 and len(set(after)) == 1, (before, after)
    assert after[0] - before[0] == 30
    assert len(list(shared.glob("counter_*.db"))) >= 1

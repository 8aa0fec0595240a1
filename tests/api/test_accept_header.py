"""The contract's operations answer JSON whatever the request's ``Accept`` header asks, as
upstream's service does: answers, refusals and errors alike."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

ACCEPTS = ["text/html", "application/xml", "text/plain;q=0.9, image/png", "*/*", "application/json"]


@pytest.mark.parametrize("accept", ACCEPTS)
def test_every_answer_is_json_whatever_accept_asks(api, accept):
    created = api.post("/storage/init_location", {"location_name": "here", "location_type": "local-dev"},
                       headers={"Accept": accept})  # fmt: skip
    found = api.get("/storage/query_location", {"location_name": "here"}, headers={"Accept": accept})
    heartbeat = api.get("/heartbeat", headers={"Accept": accept})
    refused = api.get("/request/query_data_item", {"uid": "not-a-uuid"}, headers={"Accept": accept})

    for response in (created, found, heartbeat, refused):
        assert response["Content-Type"] == "application/json", (response.status_code, response.content[:200])
    assert created.status_code == 200 and found.status_code == 200 and heartbeat.status_code == 200
    assert [row["location_name"] for row in found.json()] == ["here"]
    assert heartbeat.json() == "ACK"
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "uid"]

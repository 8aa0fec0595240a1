"""The webhook admin checks what the API checks (an http(s) URL, known event types) and never
shows the secret."""

from __future__ import annotations

import pytest

from events.models import Subscription

pytestmark = pytest.mark.django_db

ADD = "/admin/events/subscription/add/"


def _form(**fields) -> dict:
    return {"name": "hook", "url": "https://receiver.example/dlm", "event_types": "[]", "secret": "s3cret-value",
            "enabled": "on", **fields}  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [("url", "ftp://receiver.example/x", "http:// or https://"), ("event_types", '["dlm.nothing"]', "dlm.nothing")],
)
def test_a_webhook_the_api_would_refuse_is_refused_on_its_field(admin_client, field, value, says):
    response = admin_client.post(ADD, _form(**{field: value}))

    assert response.status_code == 200  # the form again, with the error on the field
    assert says in " ".join(response.context["adminform"].form.errors.get(field, []))
    assert not Subscription.objects.exists()


def test_a_good_webhook_is_saved_and_its_secret_never_shown(admin_client):
    response = admin_client.post(ADD, _form())

    assert response.status_code == 302
    hook = Subscription.objects.get(name="hook")
    assert hook.secret == "s3cret-value"
    assert b"s3cret-value" not in admin_client.get(f"/admin/events/subscription/{hook.pk}/change/").content

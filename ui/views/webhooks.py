"""Pages: webhooks, for admins (a subscription's URL and secret are configuration, as in the
admin console). The list with a form for a new one (``webhook_create``, as the API), and each
subscription's page: its settings changed, its failed deliveries sent again, its removal, and its
delivery log: state, attempts, last HTTP status and error, times."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from accounts.roles import Role
from core.errors import FieldError, ObjectNotFound
from events import webhooks
from events.models import DeliveryState, Subscription
from ui.access import role_required
from ui.errors import REFUSALS, refusals
from ui.paging import paged

PAGE_SIZE = 50


@require_http_methods(["GET", "HEAD", "POST"])
@role_required(Role.ADMIN)
def webhook_list(request: HttpRequest) -> HttpResponse:
    """Every subscription, and a form for a new one (event types: comma-separated, empty: all)."""
    errors: dict[str, str] = {}
    if request.method == "POST":
        types = [t.strip() for t in request.POST.get("event_types", "").split(",") if t.strip()]
        fields = {k: request.POST.get(k, "") for k in ("name", "url", "secret")}
        try:
            made = webhooks.webhook_create(fields={**fields, "event_types": types}, user=request.user.get_username())
        except REFUSALS as exc:
            errors = _refusals(exc)
        else:
            messages.success(request, f"Webhook {made.name} created.")
            return redirect(f"/webhooks/hook/{made.name}")
    context = {
        "subscriptions": Subscription.objects.order_by("name"),
        "errors": errors,
        "values": request.POST if request.method == "POST" else {},
        "event_types": webhooks.event_types_known(),
    }
    return render(request, "ui/webhooks/list.html", context, status=422 if errors else 200)


def _refusals(exc: Exception) -> dict[str, str]:
    """A service's refusals by the form field they name (one naming none: shown at the top)."""
    return {field or "name": message for field, message in refusals(exc)}


def _settings_change(request: HttpRequest, subscription: Subscription) -> Subscription:
    """The settings form's keys, as ``update_webhook`` takes them (an empty secret: kept)."""
    types = [t.strip() for t in request.POST.get("event_types", "").split(",") if t.strip()]
    fields = {"url": request.POST.get("url", ""), "event_types": types, "enabled": "enabled" in request.POST}
    if request.POST.get("secret"):
        fields["secret"] = request.POST["secret"]
    return webhooks.webhook_update(name=subscription.name, fields=fields)


@require_http_methods(["GET", "HEAD", "POST"])
@role_required(Role.ADMIN)
def webhook_detail(request: HttpRequest, ref: str) -> HttpResponse:
    """One subscription: its settings (changed here), its failed deliveries sent again, its
    removal; and its delivery log, newest first, paged (of one state when asked)."""
    try:
        subscription = webhooks.webhook_get(name=ref)
    except ObjectNotFound:
        context = {"what": f"No webhook named {ref!r}.", "back": "/webhooks", "back_label": "Webhooks"}
        return render(request, "ui/places/not_found.html", context, status=404)
    errors: dict[str, str] = {}
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "update":
                _settings_change(request, subscription)
                messages.success(request, f"Webhook {subscription.name} saved.")
            elif action == "retry":
                count = webhooks.deliveries_retry(subscription=subscription)
                messages.success(request, f"{count} failed deliver{'y' if count == 1 else 'ies'} queued again.")
            elif action == "delete":
                if "confirm" not in request.POST:
                    raise FieldError("confirm", "missing", "Tick the box to confirm the removal", None)
                webhooks.webhook_delete(name=subscription.name)
                messages.success(request, f"Webhook {subscription.name} and its delivery log removed.")
                return redirect("/webhooks")
            else:
                raise FieldError("action", "value_error", "Unknown action", action)
        except REFUSALS as exc:
            errors = _refusals(exc)
        else:
            return redirect(f"/webhooks/hook/{subscription.name}")
    state = request.GET.get("state", "")
    state = state if state in DeliveryState.values else ""
    rows = webhooks.deliveries_of(subscription=subscription, state=state or None)
    context = {
        "subscription": subscription,
        "deliveries": paged(request, rows, "page", PAGE_SIZE),
        "state": state,
        "states": DeliveryState.choices,
        "failed": webhooks.deliveries_of(subscription=subscription, state=DeliveryState.FAILED).count(),
        "errors": errors,
        "values": request.POST if errors else {},
        "event_types": webhooks.event_types_known(),
    }
    return render(request, "ui/webhooks/detail.html", context, status=422 if errors else 200)


urlpatterns = [
    path("webhooks", webhook_list, name="webhook-list"),
    path("webhooks/hook/<str:ref>", webhook_detail, name="webhook-detail"),
]

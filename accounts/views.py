"""Browser pages for people: logging in and out, getting a token after login, managing one's tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.exceptions import APIException

from accounts.models import TokenInfo
from accounts.roles import user_role
from accounts.tokens import api_token_create, api_token_revoke, api_tokens_of
from core.errors import DataLifecycleError


class LoginView(auth_views.LoginView):
    """Django's login form (accounts kept in DLM), with a button for the OpenID provider when one
    is configured."""

    template_name = "dlm/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["oidc_enabled"] = settings.OIDC_ENABLED
        context["failed"] = "failed" in self.request.GET
        return context


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


@never_cache
@require_GET
def token_by_auth_flow(request: HttpRequest) -> HttpResponse:
    """Log in (through the provider, or DLM's form), then receive a new API token: an HTML page
    that shows it once, or the bare JSON string when the client asks for ``application/json``."""
    if not request.user.is_authenticated:
        return redirect(f"{settings.LOGIN_URL}?next=/token_by_auth_flow")
    row, token = api_token_create(user=request.user, source=TokenInfo.Source.LOGIN)
    if _wants_json(request):
        return _no_store(JsonResponse(token, safe=False))
    context = {"token": token, "row": row, "role": user_role(request.user), "created_by": "login"}
    return _no_store(render(request, "dlm/token_created.html", context))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    """The account's API tokens: create one (shown once), revoke any."""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "create":
                days_text = request.POST.get("days", "").strip()
                days = int(days_text) if days_text else None
                row, token = api_token_create(
                    user=request.user,
                    days=days,
                    name=request.POST.get("name", ""),
                    source=TokenInfo.Source.PAGE,
                )
                context = {"token": token, "row": row, "role": user_role(request.user), "created_by": "page"}
                return _no_store(render(request, "dlm/token_created.html", context))
            if action == "revoke":
                revoked = api_token_revoke(actor=request.user, token_id=request.POST.get("token_id", ""))
                messages.success(request, f"Token “{revoked['name']}” revoked.")
                return redirect("tokens")
            messages.error(request, "Unknown action.")
        except ValueError:
            messages.error(request, "days: a whole number of days between 1 and 3650.")
        except (DataLifecycleError, APIException) as exc:
            messages.error(request, getattr(exc, "message", None) or str(getattr(exc, "detail", exc)))
    context = {
        "tokens": api_tokens_of(actor=request.user),
        "role": user_role(request.user),
        "default_days": settings.API_TOKEN_TTL.days,
    }
    return render(request, "dlm/tokens.html", context)

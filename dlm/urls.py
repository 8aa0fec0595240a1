"""DLM's URLs: the ska-dlm contract paths at the root, plus admin, docs and the OpenAPI document.

Each app registers its contract operations when Django starts (its ``AppConfig.ready()``); every
registered operation is served here."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import Resolver404, include, path, re_path, resolve
from django.views.decorators.csrf import csrf_exempt

from accounts.gateway import token_by_username_password
from accounts.views import LoginView, token_by_auth_flow, tokens_page
from core.api import OpenApiDocument, SwaggerDocs
from core.contract import REGISTRY, urlpatterns_for
from events.views import MetricsView

# Neither view below acts on anything, so a request without a CSRF token loses nothing by
# reaching them: an API client's POST to an unknown path gets the contract's 404, not a CSRF
# page. Every real page keeps its CSRF check (the redirect's target checks its own).


@csrf_exempt
def strip_trailing_slash(request: HttpRequest, route: str) -> HttpResponse:
    """A known path written with a trailing slash: 307 to the path without it, as upstream."""
    target = "/" + route.rstrip("/")
    try:
        known = resolve(target).func is not not_found
    except Resolver404:
        known = False
    if not known:
        return not_found(request)
    query = request.META.get("QUERY_STRING", "")
    response = HttpResponseRedirect(target + (f"?{query}" if query else ""))
    response.status_code = 307
    return response


@csrf_exempt
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The contract's answer to an unknown path, whatever the method and credentials:
    ``404 {"detail": "Not Found"}``."""
    return JsonResponse({"detail": "Not Found"}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Internal Server Error", status=500, content_type="text/plain; charset=utf-8")


handler404 = not_found
handler500 = server_error

urlpatterns = [
    # The API first: Django tries the patterns in order, and an API call (most of the requests)
    # would otherwise be matched against every page of the web UI before its own path. No contract
    # path is also a page's.
    *urlpatterns_for(REGISTRY),
    path("admin/", admin.site.urls),
    path("login", LoginView.as_view(), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("token_by_auth_flow", token_by_auth_flow, name="token_by_auth_flow"),
    path("token_by_username_password", token_by_username_password, name="token_by_username_password"),
    path("tokens", tokens_page, name="tokens"),
    path("openapi.json", OpenApiDocument.as_view(), name="openapi"),
    path("docs", SwaggerDocs.as_view(), name="docs"),
    path("metrics", MetricsView.as_view(), name="metrics"),  # Prometheus (events.metrics)
    path("oidc/", include("mozilla_django_oidc.urls")),  # answers 404 without a provider configured
    path("", include("ui.urls")),  # the operator web UI
    re_path(r"^(?P<route>(?!admin/|static/|oidc/).+/)$", strip_trailing_slash),
    # Unknown paths answer the contract's JSON 404, in debug mode too.
    re_path(r"^(?!admin/|static/|oidc/)", not_found),
]

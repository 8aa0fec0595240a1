"""Who is acting: set around a change by the API, the session middleware and commands.

A change to an audited model is recorded only while an actor is set. Code that runs without one
(the copy-job worker writing progress several times a second, start-up bootstrapping) writes no
audit rows. The actor lives in a context variable, so each request (thread or task) has its own.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import models


class Via(models.TextChoices):
    """Where the change came in."""

    API = "api", "API"
    UI = "ui", "web UI"
    ADMIN = "admin"
    COMMAND = "command"
    WORKER = "worker", "copy-job worker"
    LIFECYCLE = "lifecycle", "lifecycle engine"
    INTEGRITY = "integrity", "integrity checks"


class Auth(models.TextChoices):
    """How the actor proved who they are."""

    TOKEN = "token", "API token"
    OIDC_TOKEN = "oidc-token", "OpenID provider token"
    SESSION = "session", "logged-in browser"
    TRUSTED_NETWORK = "trusted-network", "trusted network (no credentials)"
    ANONYMOUS = "anonymous"  # an operation open to everyone
    COMMAND = "command"  # a management command, run on the server
    SYSTEM = "system"  # DLM itself


@dataclass(frozen=True)
class Actor:
    """The account behind a change, how it proved who it is, and how the change came in."""

    username: str
    user_id: int | None
    auth: str
    via: str
    operation: str
    request_id: str = ""
    remote_addr: str | None = None


_ACTOR: ContextVar[Actor | None] = ContextVar("dlm_audit_actor", default=None)


def current_actor() -> Actor | None:
    """The actor set by the innermost ``acting`` block, or None."""
    return _ACTOR.get()


@contextmanager
def acting(
    *,
    username: str,
    user_id: int | None,
    auth: str,
    via: str,
    operation: str,
    request_id: str = "",
    remote_addr: str | None = None,
) -> Iterator[Actor]:
    """Changes to audited models inside the block are recorded as made by this actor."""
    actor = Actor(
        username=username,
        user_id=user_id,
        auth=auth,
        via=via,
        operation=operation[:100],
        request_id=request_id or uuid.uuid4().hex,
        remote_addr=remote_addr,
    )
    token = _ACTOR.set(actor)
    try:
        yield actor
    finally:
        _ACTOR.reset(token)


@contextmanager
def unattended() -> Iterator[None]:
    """Changes inside the block are not recorded, whoever is acting around it."""
    token = _ACTOR.set(None)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def acting_command(name: str) -> AbstractContextManager[Actor]:
    """``acting`` for a management command: the operating-system account that runs it."""
    try:
        username = getpass.getuser()
    except Exception:  # no name for the process's uid (a container): the trail still says "command"
        username = ""
    return acting(username=username, user_id=None, auth=Auth.COMMAND, via=Via.COMMAND, operation=name)


def request_auth(request: Any) -> str:
    """How a DRF request was authenticated: ``token`` (a DLM API token), ``oidc-token`` (an
    access token of the OpenID provider), ``trusted-network`` (no credentials, from a trusted
    address), ``session``, or ``anonymous``."""
    from knox.models import AuthToken  # the app registry is ready by the time a request comes

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return Auth.ANONYMOUS
    auth = request.auth
    authenticator = type(getattr(request, "successful_authenticator", None)).__name__.lower()
    if isinstance(auth, AuthToken):
        return Auth.TOKEN
    if auth is not None:
        kind = f"{type(auth).__module__}.{type(auth).__name__}".lower()
        return Auth.OIDC_TOKEN if "oidc" in kind or "provider" in kind or "oidc" in authenticator else Auth.TOKEN
    if "session" in authenticator:
        return Auth.SESSION
    return Auth.TRUSTED_NETWORK


@contextmanager
def acting_for_request(request: Any, *, auth: str, via: str, operation: str) -> Iterator[Actor]:
    """``acting`` as the request's account, with its client address and ``X-Request-ID`` (when
    the client sent one, else a fresh id that groups the records of this request)."""
    user = getattr(request, "user", None)
    meta = request.META
    with acting(
        username=user.get_username() if user is not None and user.is_authenticated else "",
        user_id=user.pk if user is not None and user.is_authenticated else None,
        auth=auth,
        via=via,
        operation=operation,
        request_id=meta.get("HTTP_X_REQUEST_ID", "")[:64],
        remote_addr=meta.get("REMOTE_ADDR") or None,
    ) as actor:
        yield actor

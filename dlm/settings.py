"""DLM settings, read from the environment.

With no environment at all, DLM runs as a laptop service: SQLite in ``var/`` of the checkout,
debug mode, generated local keys. Set ``DATABASE_URL`` for PostgreSQL and ``DLM_DEBUG=false`` for
production, where the secret key and the field-encryption keys must be given explicitly.
Every variable is documented in README.md.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from core.env import (
    ROLE_NAMES,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_path,
    env_role_map,
    env_str,
    env_trusted_networks,
    local_secret_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DLM_VAR_DIR", str(BASE_DIR / "var")))

log = logging.getLogger("dlm.settings")

DEBUG = env_bool("DLM_DEBUG", True)

# --- keys -----------------------------------------------------------------------------------
SECRET_KEY = env_str("DLM_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DLM_SECRET_KEY must be set when DLM_DEBUG is off")
    SECRET_KEY = local_secret_file(VAR_DIR / "secret_key", lambda: secrets.token_urlsafe(50))


def _field_encryption_keys() -> list[bytes]:
    raw = env_list("DLM_FIELD_ENCRYPTION_KEYS", [])
    if not raw:
        if not DEBUG:
            raise ImproperlyConfigured(
                "DLM_FIELD_ENCRYPTION_KEYS must be set when DLM_DEBUG is off "
                "(comma-separated Fernet keys, newest first)"
            )
        path = VAR_DIR / "field_encryption_key"
        if not path.exists():
            log.warning("DLM_FIELD_ENCRYPTION_KEYS is not set: generating a local key in %s", path)
        raw = [local_secret_file(path, lambda: Fernet.generate_key().decode())]
    keys = []
    for position, key in enumerate(raw, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            # Never echo the value: it is a secret.
            raise ImproperlyConfigured(
                f"DLM_FIELD_ENCRYPTION_KEYS: key #{position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None
        keys.append(key.encode())
    return keys


FIELD_ENCRYPTION_KEYS = _field_encryption_keys()

ALLOWED_HOSTS = env_list("DLM_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

# --- database -------------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL").strip()
if _database_url:
    try:
        _db = dj_database_url.parse(_database_url, conn_max_age=60)
    except Exception as exc:  # dj-database-url raises several types for a malformed URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a usable database URL: {exc}") from None
    if _db.get("ENGINE") not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:// URL")
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "dlm.sqlite3")}
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Kept between requests as on PostgreSQL: a new SQLite connection reads the whole schema and
    # runs the pragmas below, about 1 ms, which was a third of a lookup's time (benchmarks/README.md).
    _db["CONN_MAX_AGE"] = 60
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif env_bool("DLM_PG_PREPARE", True):
    # Statements bound on the server and prepared from their second run on a connection: a lookup
    # is then planned once per connection, not on every request (planning data_item, with its 18
    # indexes, was half of PostgreSQL's time per lookup; benchmarks/README.md). Off for a pooler
    # in transaction mode, which cannot keep a session's prepared statements.
    _db.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=2)
_db["CONN_HEALTH_CHECKS"] = True  # a kept connection the server dropped is replaced, not failed on
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- applications ---------------------------------------------------------------------------
INSTALLED_APPS = [
    "accounts.apps.DlmAdminConfig",  # django.contrib.admin, with DLM's admin site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "core",
    "accounts",
    "catalogue",
    "migrations_app",
    "lifecycle",
    "integrity",
    "events",
    "audit",
    "ui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "events.middleware.ApiMetricsMiddleware",  # outermost but two: times the whole answer
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The contract's paths have no trailing slash; a trailing slash is redirected by dlm.urls.
APPEND_SLASH = False
ROOT_URLCONF = "dlm.urls"
WSGI_APPLICATION = "dlm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ui.context_processors.account",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files straight from the apps when collectstatic has not been run (laptop use).
WHITENOISE_USE_FINDERS = True

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.TrustedNetworkAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

API_TOKEN_TTL = timedelta(days=env_int("DLM_API_TOKEN_TTL_DAYS", 30, minimum=1))
# How long a worker remembers a valid API token (0: look it up on every request).
DLM_AUTH_CACHE_SECONDS = env_int("DLM_AUTH_CACHE_SECONDS", 10, minimum=0)
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": API_TOKEN_TTL,
}

# Client address ranges whose requests without a token act as an account with a role, each
# network its own (ska-dlm-client registers items, so its network needs operator). The role of
# NETWORK=ACCOUNT entries, which name none:
DLM_TRUSTED_NETWORK_ROLE = env_choice("DLM_TRUSTED_NETWORK_ROLE", "viewer", ROLE_NAMES)
TRUSTED_NETWORKS = env_trusted_networks("DLM_TRUSTED_NETWORKS", default_role=DLM_TRUSTED_NETWORK_ROLE)

SPECTACULAR_SETTINGS = {
    "TITLE": "DLM: Data Lifecycle Manager REST API",
    "DESCRIPTION": (
        "A catalogue of data items and of every copy of them across storages, compatible with the "
        "SKA Data Lifecycle Manager (ska-dlm) REST API. Scalar parameters travel in the query string; "
        "an operation's JSON body, where it has one, is the raw object."
    ),
    "VERSION": "2.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.contract.mark_required_bodies",
    ],
}

# --- catalogue behaviour --------------------------------------------------------------------
# Upstream caps every query at 1000 rows; ``limit`` may ask for fewer, never more.
DLM_QUERY_LIMIT = env_int("DLM_QUERY_LIMIT", 1000, minimum=1)
DLM_UID_EXPIRATION = timedelta(hours=env_int("DLM_UID_EXPIRATION_HOURS", 24, minimum=0))


def _oid_expiration() -> datetime:
    raw = env_str("DLM_OID_EXPIRATION", "2099-12-31T23:59:59").strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ImproperlyConfigured(f"DLM_OID_EXPIRATION must be an ISO timestamp, got {raw!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


DLM_OID_EXPIRATION = _oid_expiration()

DLM_RCLONE_TIMEOUT = env_int("DLM_RCLONE_TIMEOUT", 30, minimum=1)
# A plain local disk's regular files are described (stat, size, hashes) in the DLM process itself,
# as rclone would, without a call to its daemon; larger files than this are hashed by rclone
# (core/rclone/direct.py).
DLM_RCLONE_DIRECT = env_bool("DLM_RCLONE_DIRECT", True)
DLM_RCLONE_DIRECT_MAX_BYTES = env_int("DLM_RCLONE_DIRECT_MAX_BYTES", 64 * 1024 * 1024, minimum=0)

SSH_PUBLIC_KEY_PATH = env_path("SSH_PUBLIC_KEY_PATH")
LOCATION_CONFIG = env_path("LOCATION_CONFIG")
STORAGE_CONFIG = env_path("STORAGE_CONFIG")

# --- jobs -----------------------------------------------------------------------------------
# A task may run this long (the largest copy). A dead worker is noticed by its copy job's stale
# heartbeat (DLM_COPY_HEARTBEAT_LIMIT), not by this timeout; django-q2 redelivers a task whose
# worker died only after ``retry``, which must exceed ``timeout``.
DLM_TASK_TIMEOUT = env_int("DLM_TASK_TIMEOUT", 86400, minimum=1)
Q_CLUSTER = {
    "name": "dlm",
    "orm": "default",
    "workers": env_int("DLM_WORKERS", 4, minimum=1),  # copies wait on storage more than on CPU
    "timeout": DLM_TASK_TIMEOUT,
    "retry": DLM_TASK_TIMEOUT + 60,
    "max_attempts": 1,  # DLM counts a copy's attempts itself (DLM_COPY_MAX_ATTEMPTS)
    "ack_failures": False,
    "poll": 0.2,  # seconds between looks at an empty queue: a new copy starts within that
    "catch_up": False,
    "label": "Jobs",
}

# Copy jobs: attempts before a copy is failed; the first retry's delay in seconds (doubled for
# each further retry); how old a running job's heartbeat may get before the job is re-queued.
DLM_COPY_MAX_ATTEMPTS = env_int("DLM_COPY_MAX_ATTEMPTS", 3, minimum=1)
DLM_COPY_RETRY_DELAY = env_int("DLM_COPY_RETRY_DELAY", 30, minimum=0)
DLM_COPY_HEARTBEAT_LIMIT = env_int("DLM_COPY_HEARTBEAT_LIMIT", 60, minimum=5)

# --- the lifecycle (lifecycle.engine) ----------------------------------------------------------
# Seconds between two passes (django-q2 looks at its schedules every 30 s).
DLM_LIFECYCLE_INTERVAL = env_int("DLM_LIFECYCLE_INTERVAL", 60, minimum=1)
# An object below its target phase gets a copy only once its newest copy is this old (seconds), so
# that a client that makes its own copies first is not disturbed.
DLM_PHASE_GRACE = env_int("DLM_PHASE_GRACE", 900, minimum=0)
# Objects decided in one transaction.
DLM_LIFECYCLE_BATCH = env_int("DLM_LIFECYCLE_BATCH", 500, minimum=1)
# Seconds a pass's lease lasts without being renewed (renewed every batch): after a worker died
# in a pass, the next pass starts once this has run out.
DLM_LIFECYCLE_LEASE = env_int("DLM_LIFECYCLE_LEASE", 300, minimum=10)
# Seconds before the lifecycle asks again to delete a copy whose deletion failed for good.
DLM_LIFECYCLE_RETRY_FAILED = env_int("DLM_LIFECYCLE_RETRY_FAILED", 3600, minimum=0)

# --- integrity and capacity (integrity, catalogue.capacity) ------------------------------------
# Every READY copy is checked again within this many seconds (default 30 days), the oldest first;
# the fixity schedule runs every DLM_FIXITY_INTERVAL seconds and queues that share of the copies.
DLM_FIXITY_PERIOD = env_int("DLM_FIXITY_PERIOD", 30 * 24 * 3600, minimum=60)
DLM_FIXITY_INTERVAL = env_int("DLM_FIXITY_INTERVAL", 300, minimum=1)
# Per storage: at most this many checks a second, and this many bytes a second read back.
DLM_FIXITY_CHECKS_PER_SECOND = env_float("DLM_FIXITY_CHECKS_PER_SECOND", 5.0, minimum=0.001)
DLM_FIXITY_BYTES_PER_SECOND = env_int("DLM_FIXITY_BYTES_PER_SECOND", 100 * 1024 * 1024, minimum=1)
# Seconds between two scheduled consistency scans of a storage (default a week; 0: none).
DLM_SCAN_INTERVAL = env_int("DLM_SCAN_INTERVAL", 7 * 24 * 3600, minimum=0)
# Storage use, in percent of storage_capacity: above WARN the UI flags it; above HIGH it takes no
# new copies or registrations, and the lifecycle places nothing there.
DLM_STORAGE_WARN_PCT = env_float("DLM_STORAGE_WARN_PCT", 80.0, minimum=0)
DLM_STORAGE_HIGH_PCT = env_float("DLM_STORAGE_HIGH_PCT", 90.0, minimum=0)
# Seconds a storage's use, once summed, answers the admission checks of new copies and
# registrations while the storage is well clear of its limits (near them it is summed afresh).
DLM_STORAGE_USE_CACHE_SECONDS = env_int("DLM_STORAGE_USE_CACHE_SECONDS", 10, minimum=0)
# Seconds between two measures of the storages' free space (rclone about), where a backend tells.
DLM_STORAGE_MEASURE_INTERVAL = env_int("DLM_STORAGE_MEASURE_INTERVAL", 3600, minimum=1)

# --- events: the outbox, its relay, RabbitMQ (core.events, events.relay) ------------------------
DLM_AMQP_URL = env_str("DLM_AMQP_URL").strip()  # off when unset: the relay marks events sent unpublished
DLM_AMQP_EXCHANGE = env_str("DLM_AMQP_EXCHANGE", "dlm.outbox").strip() or "dlm.outbox"
DLM_OUTBOX_POLL = env_float("DLM_OUTBOX_POLL", 1.0, minimum=0.0)  # seconds between relay runs a process asks for
DLM_OUTBOX_BATCH = env_int("DLM_OUTBOX_BATCH", 500, minimum=1)  # events claimed per transaction
DLM_OUTBOX_MAX_ATTEMPTS = env_int("DLM_OUTBOX_MAX_ATTEMPTS", 10, minimum=1)  # then the event is dead
DLM_OUTBOX_RETRY_DELAY = env_float("DLM_OUTBOX_RETRY_DELAY", 2.0, minimum=0.0)  # doubling after each failure
DLM_OUTBOX_RETENTION = env_int("DLM_OUTBOX_RETENTION", 7 * 24 * 3600, minimum=0)  # seconds sent events are kept
# webhooks (events.webhooks): each delivery POSTed with this timeout; failures retried after a doubling delay
DLM_WEBHOOK_TIMEOUT = env_float("DLM_WEBHOOK_TIMEOUT", 5.0, minimum=0.1)  # seconds to wait for a receiver
DLM_WEBHOOK_RETRY_DELAY = env_float("DLM_WEBHOOK_RETRY_DELAY", 10.0, minimum=0.0)  # doubling, at most 1 h
DLM_WEBHOOK_MAX_ATTEMPTS = env_int("DLM_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)  # then the delivery has failed

# --- metrics (events.metrics) -----------------------------------------------------------------
# prometheus-client's multi-process mode: with several web processes (gunicorn's workers), each
# writes its request metrics to files in this directory and a scrape adds them all up. Read by
# prometheus-client itself from the environment, so it must be set before the processes start and
# emptied at each start (``scripts/run`` does both). Unset: the answering process's figures only.
METRICS_MULTIPROC_DIR = env_path("PROMETHEUS_MULTIPROC_DIR")
if METRICS_MULTIPROC_DIR is not None and not METRICS_MULTIPROC_DIR.is_dir():
    raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR: {METRICS_MULTIPROC_DIR} is not a directory")


def _bwlimit() -> str:
    """rclone's bandwidth limit for every transfer of this process's daemon: bytes per second with
    an optional suffix (``B``, ``K``, ``M``, ``G``, ``T``, ``P``: binary multiples), e.g. ``20M``;
    ``off`` or empty: unlimited."""
    raw = env_str("DLM_COPY_BWLIMIT").strip()
    if raw.lower() in ("", "off"):
        return ""
    if not re.fullmatch(r"\d+(\.\d+)?[BKMGTP]?", raw, flags=re.IGNORECASE):
        raise ImproperlyConfigured(
            f"DLM_COPY_BWLIMIT must be a rate such as 20M (bytes/s, suffix B, K, M, G, T or P) or off, got {raw!r}"
        )
    return raw


DLM_COPY_BWLIMIT = _bwlimit()

# --- web UI -----------------------------------------------------------------------------------
# How long the dashboard's catalogue figures (counts, bytes per storage) are reused: computing
# them reads every READY row's size, too much for every page view at a million items.
DLM_UI_FIGURES_SECONDS = env_int("DLM_UI_FIGURES_SECONDS", 30, minimum=0)

# --- logging in -----------------------------------------------------------------------------
# With DLM_OIDC_ISSUER (or the endpoints) and a client, people log in at the organisation's OpenID
# provider; without, with Django's own login form and the accounts kept in DLM.
DLM_OIDC_ISSUER = env_str("DLM_OIDC_ISSUER").strip().rstrip("/")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("DLM_OIDC_AUTHORIZATION_ENDPOINT").strip()
OIDC_OP_TOKEN_ENDPOINT = env_str("DLM_OIDC_TOKEN_ENDPOINT").strip()
OIDC_OP_USER_ENDPOINT = env_str("DLM_OIDC_USERINFO_ENDPOINT").strip()
OIDC_OP_JWKS_ENDPOINT = env_str("DLM_OIDC_JWKS_ENDPOINT").strip()
OIDC_RP_CLIENT_ID = env_str("DLM_OIDC_CLIENT_ID").strip()
OIDC_RP_CLIENT_SECRET = env_str("DLM_OIDC_CLIENT_SECRET").strip()
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID and (DLM_OIDC_ISSUER or OIDC_OP_AUTHORIZATION_ENDPOINT))
if OIDC_RP_CLIENT_ID and not OIDC_ENABLED:
    raise ImproperlyConfigured("DLM_OIDC_CLIENT_ID is set: set DLM_OIDC_ISSUER (or the DLM_OIDC_*_ENDPOINT variables)")
if OIDC_ENABLED and not DLM_OIDC_ISSUER and not (OIDC_OP_TOKEN_ENDPOINT and OIDC_OP_JWKS_ENDPOINT):
    raise ImproperlyConfigured("Without DLM_OIDC_ISSUER, set DLM_OIDC_TOKEN_ENDPOINT and DLM_OIDC_JWKS_ENDPOINT too")
OIDC_RP_SCOPES = env_str("DLM_OIDC_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = env_str("DLM_OIDC_SIGN_ALGO", "RS256")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = env_int("DLM_OIDC_TIMEOUT", 10, minimum=1)
OIDC_STORE_ACCESS_TOKEN = False
OIDC_STORE_ID_TOKEN = False
OIDC_AUTHENTICATE_CLASS = "accounts.oidc.LoginStart"
OIDC_CALLBACK_CLASS = "accounts.oidc.LoginCallback"
# The claims that carry the username and the groups; how groups map to DLM's roles.
DLM_OIDC_USERNAME_CLAIM = env_str("DLM_OIDC_USERNAME_CLAIM", "preferred_username").strip()
DLM_OIDC_GROUPS_CLAIM = env_str("DLM_OIDC_GROUPS_CLAIM", "groups").strip()
DLM_OIDC_ROLE_MAP = env_role_map("DLM_OIDC_ROLE_MAP", "dlm-viewers=viewer,dlm-operators=operator,dlm-admins=admin")
# Provider access tokens accepted as Bearer tokens: the audience a JWT must name (empty: any), and
# how long an opaque token's userinfo answer is remembered.
DLM_OIDC_AUDIENCE = env_str("DLM_OIDC_AUDIENCE").strip()
DLM_OIDC_USERINFO_CACHE_SECONDS = env_int("DLM_OIDC_USERINFO_CACHE_SECONDS", 60, minimum=0)
# JWT access tokens are also confirmed at the userinfo endpoint (so a token revoked before it
# expires is refused); false: signature, issuer, audience and expiry alone.
DLM_OIDC_CONFIRM_JWT = env_bool("DLM_OIDC_CONFIRM_JWT", True)
# GET/POST /token_by_username_password (upstream's gateway): off unless enabled.
DLM_PASSWORD_TOKENS = env_bool("DLM_PASSWORD_TOKENS", False)

AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if OIDC_ENABLED:
    AUTHENTICATION_BACKENDS.insert(0, "accounts.oidc.ProviderBackend")
LOGIN_URL = "/oidc/authenticate/" if OIDC_ENABLED else "/login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login"

# --- logging --------------------------------------------------------------------------------
LOG_LEVEL = env_str("DLM_LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"DLM_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DLM_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

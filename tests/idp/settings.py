"""Settings of the test OpenID provider. ``serve.py`` sets ``IDP_DIR`` (database and signing key)
and ``IDP_ISSUER`` before Django starts."""

import os
from pathlib import Path

DIR = Path(os.environ["IDP_DIR"])
ISSUER = os.environ["IDP_ISSUER"]

SECRET_KEY = "idp-test-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
ROOT_URLCONF = "tests.idp.urls"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
    "tests.idp",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DIR / "idp.sqlite3",
        # Threaded server plus the test process editing the same file (expire, set_groups):
        # WAL lets readers run beside a writer, IMMEDIATE plus a timeout queues writers instead of failing.
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
    }
}
# Every token request checks the client secret against its hash: the default hasher
# (a million PBKDF2 rounds) would make each one take a noticeable fraction of a second.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# DLM under test also runs on 127.0.0.1, and cookies ignore ports.
SESSION_COOKIE_NAME = "idpsessionid"
CSRF_COOKIE_NAME = "idpcsrftoken"
LOGIN_URL = "/accounts/login/"

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": ISSUER,
    "OIDC_RSA_PRIVATE_KEY": (DIR / "oidc.key").read_text(),
    "OAUTH2_VALIDATOR_CLASS": "tests.idp.validator.Validator",
    "ACCESS_TOKEN_GENERATOR": "tests.idp.tokens.signed_access_token",
    # Unset, oauthlib would use the access-token generator for refresh tokens too.
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "PKCE_REQUIRED": True,
    # pytest-django's live_server listens on "localhost": let it use any port too, as 127.0.0.1 may (RFC 8252).
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "SCOPES": {
        "openid": "OpenID Connect",
        "profile": "Username and groups",
        "email": "Email address",
    },
    "DEFAULT_SCOPES": ["openid"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        "django.server": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}

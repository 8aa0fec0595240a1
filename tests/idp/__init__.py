"""A test-only OpenID Connect provider (django-oauth-toolkit), run in its own process by
``tests/oidc_provider.py``. It shares nothing with DLM: its own settings, database and key."""

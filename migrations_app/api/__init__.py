"""The copy jobs' contract operations (``/migration``). Importing ``migrations_app.api.views``
registers them."""

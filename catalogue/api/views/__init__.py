"""The catalogue's contract operations, declared with ``dlm.contract.operation``.

Importing this package registers them; ``catalogue.api.urls`` serves them.
"""

from catalogue.api.views import ingest, request, storage  # noqa: F401

"""The catalogue's contract operations, declared with ``core.contract.operation``.

``CatalogueConfig.ready()`` imports this package, which registers them; ``dlm.urls`` serves every
registered operation.
"""

from catalogue.api.views import ingest, request, storage  # noqa: F401

"""DLM's command line: ``dlm``, a client of a DLM server's REST API (the ska-dlm contract).

It imports nothing of the server: an HTTP client and the contract's shapes are all it knows."""

__version__ = "1.0.0"

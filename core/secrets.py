"""Secret options of rclone remote definitions: which they are, and how they are kept apart.

rclone marks some options as passwords (``pass``, ``key_file_pass``…, which must be obscured
before use) and others as sensitive (``secret_access_key``, ``token``, ``client_secret``…).
DLM treats every such option as a secret: it is removed from the stored definition, encrypted
separately, and replaced by ``MASK`` whenever a definition is shown.
"""

from __future__ import annotations

from typing import Any

MASK = "***"

# Options rclone documents as passwords or sensitive values, across its backends.
SECRET_OPTION_NAMES = frozenset(
    {
        "pass",
        "password",
        "password2",
        "key",
        "key_pem",
        "key_file_pass",
        "secret_access_key",
        "session_token",
        "client_secret",
        "token",
        "bearer_token",
        "sas_url",
        "account_key",
        "service_account_credentials",
        "sse_customer_key",
        "sse_customer_key_base64",
        "sse_customer_key_md5",
        "api_key",
        "app_key",
        "auth_token",
        "access_token",
        "refresh_token",
        "credentials",
        "connection_string",
        "private_key",
        "master_key",
        "encryption_key",
        "passphrase",
    }
)
# Obscured by rclone before use (``rclone obscure``): its "password" options.
PASSWORD_OPTION_NAMES = frozenset({"pass", "password", "password2", "key_file_pass"})


def is_secret_option(name: str) -> bool:
    """True when an option of this name holds a secret."""
    lowered = name.lower()
    return (
        lowered in SECRET_OPTION_NAMES
        or "secret" in lowered
        or "password" in lowered
        or lowered.endswith(("_pass", "_token", "_passphrase"))
    )


def split_secrets(config: dict[str, Any]) -> tuple[dict[str, Any], list[list[Any]]]:
    """Separate secret values from a definition.

    Returns the definition without its secret values and a list of ``[path, value]`` pairs, where
    ``path`` is the list of keys leading to the value.
    """
    found: list[list[Any]] = []

    def walk(node: dict[str, Any], path: list[str]) -> dict[str, Any]:
        public: dict[str, Any] = {}
        for key, value in node.items():
            if isinstance(value, dict):
                public[key] = walk(value, [*path, key])
            elif is_secret_option(key) and value not in (None, ""):
                found.append([[*path, key], value])
            else:
                public[key] = value
        return public

    return walk(config, []), found


def join_secrets(public: dict[str, Any], secrets: list[list[Any]] | None) -> dict[str, Any]:
    """The whole definition: ``public`` with the secret values put back in their places."""
    return _place(public, secrets or [], lambda value: value)


def mask_secrets(public: dict[str, Any], secrets: list[list[Any]] | None) -> dict[str, Any]:
    """The definition as shown to people and clients: every secret replaced by ``MASK``."""
    return _place(public, secrets or [], lambda value: MASK)


def _place(public: dict[str, Any], secrets: list[list[Any]], show) -> dict[str, Any]:
    result = _deep_copy(public)
    for path, value in secrets:
        node = result
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = show(value)
    return result


def _deep_copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _deep_copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_deep_copy(value) for value in node]
    return node


def mask_options(node: Any) -> Any:
    """A JSON value with the value of every secret option (``is_secret_option``: pass,
    secret_access_key, token…), at any depth, replaced by ``"***"``."""
    if isinstance(node, dict):
        return {
            key: MASK
            if is_secret_option(str(key)) and not isinstance(value, dict) and value not in (None, "")
            else mask_options(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [mask_options(item) for item in node]
    return node

"""Talking to a DLM server over its REST API: one request, its answer, or why there is none."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from dlm_cli import __version__

TIMEOUT = 60  # seconds for one request: a bulk registration checks thousands of files


class Refused(Exception):
    """The server answered with an error status; ``message`` is its error, readable."""

    def __init__(self, status: int, body: Any, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.message = message


class Unreachable(Exception):
    """The server could not be reached (refused connection, DNS failure, timeout)."""


@dataclass
class Client:
    """A DLM server at ``url``, called with ``token`` (when there is one)."""

    url: str
    token: str = ""
    timeout: float = TIMEOUT

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"dlm-cli/{__version__}"
        self.session.headers["Accept"] = "application/json"

    def call(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """The decoded JSON answer of one request; raises ``Refused`` or ``Unreachable``."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        try:
            response = self.session.request(
                method,
                self.url + path,
                params={k: _wire(v) for k, v in (params or {}).items() if v is not None},
                data=data,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise Unreachable(f"cannot reach DLM at {self.url}: {_reason(exc)}") from None
        body_out = _decode(response)
        if response.status_code >= 400 or 300 <= response.status_code < 400:
            raise Refused(response.status_code, body_out, error_message(response.status_code, body_out))
        return body_out

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params)

    def text(self, path: str) -> str:
        """The plain-text answer of a GET (``/metrics``)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = self.session.get(self.url + path, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise Unreachable(f"cannot reach DLM at {self.url}: {_reason(exc)}") from None
        if response.status_code >= 400:
            body = _decode(response)
            raise Refused(response.status_code, body, error_message(response.status_code, body))
        return response.text


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or host not found"
    return type(exc).__name__


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def error_message(status: int, body: Any) -> str:
    """A server's error answer as one readable line (or a few): the contract's three shapes."""
    if isinstance(body, dict) and "exec" in body:
        return f"{body['exec']}: {body.get('message', '')}"
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        lines = []
        for entry in body["detail"]:
            if isinstance(entry, dict):
                where = ".".join(str(part) for part in entry.get("loc", []) if part not in ("query", "body"))
                lines.append(f"{where or 'request'}: {entry.get('msg', '')}")
            else:
                lines.append(str(entry))
        return "; ".join(lines) or f"HTTP {status}"
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    if status in (301, 302, 303, 307, 308):
        return f"HTTP {status}: the server redirected (is the URL right?)"
    text = str(body or "").strip()
    return f"HTTP {status}" + (f": {text[:300]}" if text else "")

"""HTTP session for the deploy targets: auth, TLS, retries. Thin: resources build `Request`s, this sends them.

Retries with exponential backoff (honouring Retry-After): 429 for every request (the server refused it,
nothing happened); 5xx and connection failures only for requests marked idempotent (a retried POST
could create a second object). Credentials never appear in messages, reprs or logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from sigma_es_backend.connection import Connection

RETRY_STATUS_IDEMPOTENT = frozenset({500, 502, 503, 504})


class DeployError(Exception):
    """A request failed for good; the message names method, path, status and the server's reason."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    idempotent: bool = False


class HttpClient:
    def __init__(self, connection: Connection, retries: int = 5, backoff: float = 0.5, timeout: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.connection = connection
        self.retries, self.backoff, self.timeout, self._sleep = retries, backoff, timeout, sleep
        self.session = requests.Session()
        if connection.api_key:
            self.session.headers["Authorization"] = f"ApiKey {connection.api_key}"
        elif connection.username:
            self.session.auth = (connection.username, connection.password or "")
        self.session.verify = connection.ca_cert if (connection.verify and connection.ca_cert) else connection.verify

    def __repr__(self) -> str:
        return f"HttpClient({self.connection.url!r})"

    def send(self, request: Request) -> Any:
        """The decoded JSON response (None when empty); DeployError once retries are exhausted."""
        url = self.connection.url + request.path
        what = f"{request.method} {request.path}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.session.request(request.method, url, params=request.params or None,
                                                headers=request.headers or None, json=request.json,
                                                files=request.files, timeout=self.timeout)
            except requests.RequestException as error:
                if request.idempotent and not last:
                    self._wait(attempt, None)
                    continue
                raise DeployError(f"{what}: {type(error).__name__}: {_strip_credentials(str(error))}") from None
            retry = response.status_code == 429 or (request.idempotent and response.status_code in RETRY_STATUS_IDEMPOTENT)
            if retry and not last:
                self._wait(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code >= 400:
                raise DeployError(f"{what}: HTTP {response.status_code}: {_reason(response)}", response.status_code)
            return response.json() if response.content else None
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * (2 ** attempt)
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        self._sleep(min(delay, 30.0))


def _reason(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error", body.get("message", body))
        if isinstance(error, dict):
            error = error.get("reason") or error.get("message") or error
        return str(error)[:300]
    return str(body)[:300]


def _strip_credentials(text: str) -> str:
    # requests puts the URL in connection errors; URLs may carry user:password@.
    import re

    return re.sub(r"//[^/@\s]+@", "//", text)

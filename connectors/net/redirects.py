"""Following a redirect by hand: the next request, with what must not go along dropped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.framework.errors import FatalError

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class Request:
    """One request as sent; a redirect may change its method, body and headers."""

    method: str
    url: str
    headers: Mapping[str, str]
    json: Mapping[str, Any] | None = None


def redirect_target(response: httpx.Response) -> httpx.URL | None:
    """Where a redirect response points (None: not a redirect)."""
    location = response.headers.get("location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    return response.url.join(location).copy_with(fragment=None)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def redirected(request: Request, status: int, target: httpx.URL, visited: set[str]) -> Request:
    """The request a `status` redirect to `target` asks for; a loop is fatal."""
    if str(target) in visited:
        raise FatalError(f"redirect loop: {request.url} -> {target}")
    headers = request.headers
    if _origin(target) != _origin(httpx.URL(request.url)):
        # A token meant for one origin must not follow a redirect to another.
        headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
    method, payload = request.method, request.json
    if status == 303 or (status in (301, 302) and method == "POST"):
        method, payload = "GET", None  # what browsers and httpx do
    return Request(method, str(target), headers, payload)

"""What went wrong with a request, as the error the engine acts on (fatal or retriable)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from connectors.framework.errors import FatalError, RetriableError
from connectors.net.policy import parse_retry_after


@contextmanager
def classified(url: str) -> Iterator[None]:
    """Turn transport failures into the error the engine acts on."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise RetriableError(f"{url}: timed out ({type(exc).__name__})") from exc
    except TimeoutError as exc:  # the attempt's total_timeout budget ran out
        raise RetriableError(f"{url}: exceeded total_timeout") from exc
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
        raise FatalError(f"{url}: cannot send this request ({exc})") from exc
    except httpx.ConnectError as exc:
        if _caused_by(exc, ssl.SSLCertVerificationError):
            # A certificate that does not match or has expired is not fixed by retrying.
            raise FatalError(f"{url}: TLS certificate rejected ({exc})") from exc
        raise RetriableError(f"{url}: ConnectError: {exc}") from exc
    except httpx.TransportError as exc:  # refused, reset, closed mid-body
        raise RetriableError(f"{url}: {type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise FatalError(f"{url}: invalid URL ({exc})") from exc


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def raise_for_status(response: httpx.Response) -> None:
    """Pass 2xx and 304; anything else raises, with the source's Retry-After when retriable."""
    status, url = response.status_code, response.url
    if 200 <= status < 300 or status == 304:
        return
    if status in (408, 429) or 500 <= status < 600:
        hint = parse_retry_after(response.headers.get("retry-after"))
        raise RetriableError(f"{url}: HTTP {status}", retry_after=hint)
    if status in (401, 403):
        raise FatalError(f"{url}: HTTP {status}: auth refused, check the source's credentials")
    if 400 <= status < 500:
        raise FatalError(f"{url}: HTTP {status}")
    raise FatalError(f"{url}: unexpected HTTP {status}")

"""Where a source's document may live: an http(s) URL, or a local file.

A `file://` URL is accepted in configuration; whether it is read is decided by
the fetcher, which reads only files under the directories an admin allowed
(`FetchPolicy.allow_file_roots`), i.e. sources explicitly marked local.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def source_url(value: str) -> str:
    """A config validator: an absolute http(s) URL or a file:// URL."""
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.hostname:
        return value
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path:
        return value
    raise ValueError("must be an absolute http(s) URL or a file:// URL of a local source")

"""Conditional GET: the ETag / Last-Modified pair a response gives and a request sends back.

Streams keep the pair in their state as {"etag", "last_modified"} (absent ones left
out); the fetcher sends it back as If-None-Match / If-Modified-Since, and a source
that has nothing new answers 304.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Validators:
    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def of_response(cls, headers: Mapping[str, str]) -> Validators:
        """The pair a response carries (header names in any case; empty values are none)."""
        lowered = {key.lower(): value for key, value in headers.items()}
        return cls(lowered.get("etag") or None, lowered.get("last-modified") or None)

    def state(self) -> dict[str, str]:
        """The pair as stream state: {"etag", "last_modified"}, absent ones left out."""
        found = {"etag": self.etag, "last_modified": self.last_modified}
        return {key: value for key, value in found.items() if value}

    def request_headers(self, headers: Mapping[str, str] | None = None) -> dict[str, str]:
        """`headers` plus the If-None-Match / If-Modified-Since that send the pair back."""
        merged = dict(headers or {})
        if self.etag:
            merged["if-none-match"] = self.etag
        if self.last_modified:
            merged["if-modified-since"] = self.last_modified
        return merged

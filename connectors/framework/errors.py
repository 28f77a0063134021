"""Connector errors, sorted by what the sync engine should do about them.

    ConnectorError
    ├── FatalError        stop the run, keep the last good data:
    │   │                 auth, 4xx other than 408/429, an unparseable document,
    │   │                 a pagination loop, bad configuration,
    │   │                 a body over the size cap, a corrupt compressed body
    │   └── RefusedByPolicy   an address or a local file the fetch policy refuses
    │                         (`policy_field` names the policy's setting)
    ├── RetriableError    try the request again (bounded, with backoff):
    │                     408, 429, 5xx, connection errors, timeouts, a body cut
    │                     short (also a compressed body ending before its end marker)
    └── SkippableRecord   one bad record: rejected with its reason, the run goes on

A connector raises these; it never decides to retry or to give up on a run.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error a connector raises on purpose."""


class FatalError(ConnectorError):
    """The run cannot go on; nothing is withdrawn and the last good data stays."""


class RefusedByPolicy(FatalError):
    """The fetch policy refused the request; `policy_field` is the `FetchPolicy` field
    that would allow it (None: nothing may, e.g. a cloud metadata address), so whoever
    built the policy from its settings can name the setting."""

    def __init__(self, message: str, *, policy_field: str | None) -> None:
        super().__init__(message)
        self.policy_field = policy_field


class RetriableError(ConnectorError):
    """The same request may succeed later; `retry_after` is the source's hint, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SkippableRecord(ConnectorError):
    """One record is unusable; `raw` is kept with the reason so an admin can look at it."""

    def __init__(self, reason: str, *, external_id: str | None = None, raw: object = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.external_id = external_id
        self.raw = raw

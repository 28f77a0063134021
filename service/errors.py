"""The service's exception base: what the service raises on purpose derives from `ServiceError`.

    ServiceError
    ├── ConfigurationError      settings that cannot work together   service.settings
    ├── EmbeddedDatabaseError   the embedded server failed or in use service.storage.embedded
    ├── RequestError            a malformed HTTP request (4xx)       service.api.http_errors
    ├── Unauthenticated         a bad or revoked API key (401)       service.auth.keys
    ├── KeyRequestError         a key that cannot be made or revoked service.auth.keys
    ├── KeyReused, StillRunning idempotency key conflicts            service.partner.idempotency
    ├── SourceError             a source that cannot be used so      service.sync.sources
    │   └── RunActive           the source already has an active run service.sync.runs
    ├── LeaseLost               another worker took the run over     service.sync.runs
    ├── RunCancelled, Interrupted  a run stopped before its end      service.sync.engine
    └── FeedClosed              a change feed ended                  service.live.changes

Errors the client sees in GraphQL responses are GraphQL errors (schema.errors) or
result types; connectors have their own tree (connectors.framework.errors).
"""

from __future__ import annotations


class ServiceError(Exception):
    """Raised on purpose by the service: an expected condition, named by its subclass."""

"""Process metrics in the Prometheus text format: requests, database round trips and
the response cache."""

from __future__ import annotations

import threading
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass

from pymongo import monitoring

from service.api.read_gate import ReadGateStats

# Set while a GraphQL request is handled: commands sent then are the request's own
# (a background applier, worker or change feed sends commands at any time).
IN_REQUEST: ContextVar[bool] = ContextVar("in_request", default=False)


@dataclass
class CacheStats:
    """The response cache's counts (service.api.response_cache updates them on the event
    loop's thread; /metrics reads them)."""

    hits: int = 0
    stale_hits: int = 0  # of `hits`: served after a change, within the staleness bound
    misses: int = 0
    coalesced: int = 0  # misses that waited for the same answer being made
    refreshes: int = 0  # answers made again in the background before they went stale
    evictions: int = 0
    bytes: int = 0
    entries: int = 0
    max_bytes: int = 0

    def render(self) -> list[str]:
        counters = {
            "hits": ("Answers served from the response cache.", self.hits),
            "stale_hits": (
                "Of the hits: served after a change, within GUILDGRAPH_CACHE_MAX_STALE_S.",
                self.stale_hits,
            ),
            "misses": ("Cacheable requests the cache could not answer.", self.misses),
            "coalesced": ("Misses that waited for the same answer being made.", self.coalesced),
            "refreshes": ("Answers made again in the background.", self.refreshes),
            "evictions": ("Answers evicted to stay within the byte bound.", self.evictions),
        }
        gauges = {
            "bytes": ("Bytes the cached answers take.", self.bytes),
            "entries": ("Cached answers.", self.entries),
            "max_bytes": ("The byte bound (GUILDGRAPH_CACHE_BYTES).", self.max_bytes),
        }
        lines: list[str] = []
        for name, (text, value) in counters.items():
            metric = f"guildgraph_response_cache_{name}_total"
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} counter", f"{metric} {value}"]
        for name, (text, value) in gauges.items():
            metric = f"guildgraph_response_cache_{name}"
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} gauge", f"{metric} {value}"]
        return lines


class Metrics(monitoring.CommandListener):
    """Counts GraphQL requests and MongoDB commands (one command = one round trip), and
    holds the response cache's counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.response_cache = CacheStats()
        self.public_reads = ReadGateStats()
        self.db_commands: Counter[str] = Counter()
        self.request_db_commands: Counter[str] = Counter()
        self.db_failures = 0
        self.requests: Counter[int] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self.db_commands[event.command_name] += 1
            if IN_REQUEST.get():
                self.request_db_commands[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self._lock:
            self.db_failures += 1

    def request_done(self, status: int) -> None:
        with self._lock:
            self.requests[status] += 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP guildgraph_db_commands_total MongoDB commands sent, by command.",
                "# TYPE guildgraph_db_commands_total counter",
                *(
                    f'guildgraph_db_commands_total{{command="{name}"}} {count}'
                    for name, count in sorted(self.db_commands.items())
                ),
                "# HELP guildgraph_db_request_commands_total MongoDB commands sent while "
                "answering GraphQL requests, by command.",
                "# TYPE guildgraph_db_request_commands_total counter",
                *(
                    f'guildgraph_db_request_commands_total{{command="{name}"}} {count}'
                    for name, count in sorted(self.request_db_commands.items())
                ),
                "# HELP guildgraph_db_command_failures_total MongoDB commands that failed.",
                "# TYPE guildgraph_db_command_failures_total counter",
                f"guildgraph_db_command_failures_total {self.db_failures}",
                "# HELP guildgraph_graphql_requests_total GraphQL HTTP requests, by status.",
                "# TYPE guildgraph_graphql_requests_total counter",
                *(
                    f'guildgraph_graphql_requests_total{{status="{status}"}} {count}'
                    for status, count in sorted(self.requests.items())
                ),
                *self.response_cache.render(),
                *self.public_reads.render(),
            ]
        return "\n".join(lines) + "\n"

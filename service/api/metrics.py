"""Process metrics in the Prometheus text format: requests and database round trips."""

from __future__ import annotations

import threading
from collections import Counter
from contextvars import ContextVar

from pymongo import monitoring

# Set while a GraphQL request is handled: commands sent then are the request's own
# (a background applier, worker or change feed sends commands at any time).
IN_REQUEST: ContextVar[bool] = ContextVar("in_request", default=False)


class Metrics(monitoring.CommandListener):
    """Counts GraphQL requests and MongoDB commands (one command = one round trip)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
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
            ]
        return "\n".join(lines) + "\n"

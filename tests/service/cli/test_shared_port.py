"""One port, several processes: the supervisor's reservation and each process's socket."""

from __future__ import annotations

import socket

import pytest

from service.cli.shared_port import bind_shared, reserve


def test_a_port_another_program_listens_on_is_refused() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(OSError, match="in use"):
            reserve("127.0.0.1", other.getsockname()[1])


def test_a_second_supervisor_on_the_port_is_refused_not_let_in() -> None:
    with reserve("127.0.0.1", 0) as held:
        with pytest.raises(OSError, match="in use"):
            reserve("127.0.0.1", held.getsockname()[1])


def test_processes_bind_beside_the_reservation_and_get_connections_once_listening() -> None:
    with reserve("127.0.0.1", 0) as held:
        port = held.getsockname()[1]
        with bind_shared("127.0.0.1", port) as first, bind_shared("127.0.0.1", port) as second:
            # Bound, not listening (a process still starting): no connection waits there.
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            first.listen()
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                accepted, _ = first.accept()
                accepted.close()
            assert second.getsockname() == first.getsockname()

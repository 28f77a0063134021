"""One port, several API processes: each binds its own socket with SO_REUSEPORT.

The kernel spreads new connections over the sockets listening on the port (by a hash
of each connection's addresses), so every process accepts its own share. uvicorn's
`--workers`, whose processes accept from one shared socket, measured worse here: a
fixed 44 ms per request with asyncio, and sometimes every connection on one worker.

A process binds its socket before its app starts, and uvicorn listens on it only once
the app has started: a starting (or restarting) process gets no connection before it
can answer it. The supervisor holds the port meanwhile with a socket that never
listens, so the port stays ours while a process restarts.
"""

from __future__ import annotations

import socket


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, (str(address[0]), int(address[1]))


def _socket(family: socket.AddressFamily) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    # Connections of an earlier run still in TIME_WAIT do not keep the port (as uvicorn).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def reserve(host: str, port: int) -> socket.socket:
    """Take host:port for the host's API processes (a free port when `port` is 0).

    Bound without SO_REUSEPORT first, so a port another program holds (another
    `guildgraph serve` too) is refused as it is for a single process, instead of
    silently shared with it; then opened to this host's API processes. SO_REUSEADDR
    only for the bind (TIME_WAIT connections of an earlier run): once bound, a later
    `reserve` of the port is refused even before any process listens. Never listens:
    no connection waits on it. Raises OSError when the port is taken.
    """
    family, address = _address(host, port)
    sock = _socket(family)
    try:
        sock.bind(address)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_shared(host: str, port: int) -> socket.socket:
    """A socket bound to host:port beside the other API processes' sockets, not yet
    listening (uvicorn listens once the app has started)."""
    family, address = _address(host, port)
    sock = _socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock

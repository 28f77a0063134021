"""A loopback HTTP server for files a benchmark generates: the sources its syncs read."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; the body is copied from the file in 64 KiB pieces."""

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def file_server(root: Path) -> Iterator[str]:
    """Serve `root` on a loopback port from a thread; yields the base URL."""
    handler = functools.partial(_QuietFiles, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="file-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

"""file:// URLs and plain paths: read only under the directories an admin allowed.

A local source answers like an HTTP one: an ETag and a Last-Modified made from the
file's size and modification time, a 304 for a conditional GET that matches, and
the same `max_body_bytes` cap.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from connectors.framework.conditional import Validators
from connectors.framework.errors import FatalError, RefusedByPolicy
from connectors.net.decoding import PIECE, SizeCap
from connectors.net.policy import FetchPolicy


@dataclass(frozen=True)
class LocalFile:
    path: Path
    size: int
    etag: str
    last_modified: str

    @property
    def url(self) -> str:
        return self.path.as_uri()

    @property
    def headers(self) -> dict[str, str]:
        return {"etag": self.etag, "last-modified": self.last_modified}

    def unchanged(self, asked: Validators) -> bool:
        return asked.etag == self.etag or asked.last_modified == self.last_modified


def local_path(url: str, policy: FetchPolicy) -> Path | None:
    """The path a file:// URL or plain path names (None for http/https); else refused."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        path = Path(url2pathname(parts.path))
    elif parts.scheme == "":
        path = Path(url)
    else:
        raise FatalError(f"{url}: only http(s) URLs and allowed local files are fetched")
    if not policy.allow_file_roots:
        raise RefusedByPolicy(
            f"{url}: local files are refused (allow_file_roots is empty)",
            policy_field="allow_file_roots",
        )
    return path


def path_under_roots(path: Path, roots: Iterable[Path]) -> Path:
    """`path` resolved (symlinks and '..' followed), if it lies under one of `roots`."""
    resolved = path.resolve()
    for root in roots:
        if resolved.is_relative_to(root.resolve()):
            return resolved
    raise RefusedByPolicy(
        f"{path}: local files are read only under allow_file_roots",
        policy_field="allow_file_roots",
    )


def stat_local(path: Path, policy: FetchPolicy) -> LocalFile:
    resolved = path_under_roots(path, policy.allow_file_roots)
    try:
        info = resolved.stat()
    except OSError as exc:
        raise FatalError(f"{path}: cannot read ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise FatalError(f"{path}: not a regular file")
    SizeCap(policy.max_body_bytes, str(path)).add(info.st_size)
    etag = f'"{info.st_size:x}-{info.st_mtime_ns:x}"'
    return LocalFile(resolved, info.st_size, etag, formatdate(info.st_mtime, usegmt=True))


def read_local(local: LocalFile, limit: int) -> bytes:
    with local.path.open("rb") as handle:
        body = handle.read(limit + 1)  # the file may have grown since it was checked
    SizeCap(limit, local.url).add(len(body))
    return body


async def local_pieces(local: LocalFile, limit: int) -> AsyncGenerator[bytes, None]:
    cap = SizeCap(limit, local.url)
    handle = await asyncio.to_thread(local.path.open, "rb")
    try:
        while piece := await asyncio.to_thread(handle.read, PIECE):
            cap.add(len(piece))
            yield piece
    finally:
        handle.close()

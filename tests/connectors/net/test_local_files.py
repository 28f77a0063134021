"""file:// URLs and plain paths: refused without allowed roots, read (and 304) under them."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.framework.errors import FatalError
from tests.connectors.net.clients import fetcher


async def test_local_files_are_refused_without_allowed_roots(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_bytes(b"a,b\n")
    async with fetcher() as client:
        for url in [(tmp_path / "data.csv").as_uri(), str(tmp_path / "data.csv")]:
            with pytest.raises(FatalError, match="allow_file_roots"):
                await client.get(url)
        with pytest.raises(FatalError, match="only http"):
            await client.get("ftp://example.org/data.csv")


async def test_local_files_under_an_allowed_root_are_read(tmp_path: Path) -> None:
    root = tmp_path / "sources"
    root.mkdir()
    (root / "data.csv").write_bytes(b"a,b\n1,2\n")
    (tmp_path / "secret.txt").write_bytes(b"no")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    async with fetcher(allow_file_roots=[root]) as client:
        by_uri = await client.get((root / "data.csv").as_uri())
        by_path = await client.get(str(root / "data.csv"))
        unchanged = await client.get(str(root / "data.csv"), etag=by_uri.validators["etag"])
        async with client.stream(str(root / "data.csv")) as streamed:
            streamed_body = b"".join([c async for c in streamed.chunks()])
        for outside in [root / ".." / "secret.txt", root / "escape", Path("/etc/hostname")]:
            with pytest.raises(FatalError, match="allow_file_roots"):
                await client.get(str(outside))
    assert by_uri.body == by_path.body == streamed_body == b"a,b\n1,2\n"
    assert (unchanged.status, unchanged.body) == (304, b"")

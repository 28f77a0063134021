"""The read model's SQLite file: opening it, writing projected rows, and its metadata.

One file per database under the data directory. It is in WAL mode, so one process
writes (the applier) while every API process of the host reads, each from its own
connection, without blocking one another. Writes are grouped in transactions that
also store the change-stream resume token, so the token always names exactly the
changes the rows reflect.

The file can be rebuilt and replaced while readers have the old one open: a reader
checks the file's identity now and then and reopens a replaced or deleted file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from service.read_model.rows import COMMUNITIES, EVENTS, STANDARDS, Projected
from service.read_model.tables import DDL, FORMAT, LINKS, MAIN, TERMS, VALUES

COLLECTIONS = (COMMUNITIES, EVENTS, STANDARDS)
VERSION_PREFIX = "version:"
CHANGED_AT_PREFIX = "changed_at:"


class ReadModelUnavailable(sqlite3.DatabaseError):
    """There is no usable read-model file (yet): it is being built."""


def _configure(connection: sqlite3.Connection) -> sqlite3.Connection:
    connection.execute("PRAGMA journal_mode=WAL")
    # A crash may lose the last transactions, never consistency: the resume token is
    # in the same transaction as the rows, so the applier resumes from what is there.
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=5000")
    connection.execute("PRAGMA temp_store=MEMORY")
    connection.execute("PRAGMA cache_size=-65536")  # 64 MiB per connection
    connection.execute("PRAGMA mmap_size=268435456")
    return connection


def create(path: Path) -> sqlite3.Connection:
    """A new, empty read-model file at `path` (an existing one is replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    connection = _configure(sqlite3.connect(path, isolation_level=None, check_same_thread=False))
    connection.executescript(DDL)
    set_meta(connection, "format", FORMAT)
    return connection


def open_writer(path: Path) -> sqlite3.Connection:
    """The existing file, for the applier; raises ReadModelUnavailable when it is missing,
    unreadable or of another format."""
    if not path.exists():
        raise ReadModelUnavailable(f"no read model at {path}")
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        _configure(connection)
        if get_meta(connection, "format") != FORMAT:
            raise ReadModelUnavailable(f"{path} has another projection format")
        connection.execute("PRAGMA quick_check(1)").fetchone()
    except sqlite3.DatabaseError as error:
        connection.close()
        raise ReadModelUnavailable(f"{path} is unreadable: {error}") from None
    return connection


def get_meta(connection: sqlite3.Connection, key: str) -> Any:
    try:
        row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None  # no meta table: not a read-model file
    return row[0] if row else None


def set_meta(connection: sqlite3.Connection, key: str, value: Any) -> None:
    connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def mark_changed(connection: sqlite3.Connection, collections: Iterable[str]) -> None:
    """Count a change of each entity collection (in the transaction that applied it):
    response caches compare these versions to know what a change can affect."""
    now = time.time()
    for collection in collections:
        connection.execute(
            "INSERT INTO meta (key, value) VALUES (?, 1) "
            "ON CONFLICT (key) DO UPDATE SET value = value + 1",
            (VERSION_PREFIX + collection,),
        )
        set_meta(connection, CHANGED_AT_PREFIX + collection, now)


def versions(connection: sqlite3.Connection) -> dict[str, tuple[int, float]]:
    """Per entity collection: how many changes were applied, and when the last one was."""
    found: dict[str, tuple[int, float]] = {}
    for collection in COLLECTIONS:
        version = get_meta(connection, VERSION_PREFIX + collection)
        changed_at = get_meta(connection, CHANGED_AT_PREFIX + collection)
        found[collection] = (int(version or 0), float(changed_at or 0.0))
    return found


@contextlib.contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def delete(connection: sqlite3.Connection, collection: str, entity_id: str) -> None:
    connection.execute(f"DELETE FROM {MAIN[collection]} WHERE id = ?", (entity_id,))
    if collection in VALUES:
        connection.execute(f"DELETE FROM {VALUES[collection]} WHERE id = ?", (entity_id,))
    connection.execute(f"DELETE FROM {TERMS[collection]} WHERE id = ?", (entity_id,))
    for table, column in LINKS.get(collection, ()):
        connection.execute(f"DELETE FROM {table} WHERE {column} = ?", (entity_id,))


def upsert(connection: sqlite3.Connection, projected: Projected) -> None:
    """Replace everything the read model holds of one entity by `projected`."""
    collection, entity_id = projected.collection, projected.id
    delete(connection, collection, entity_id)
    # A slug another row still holds (its delete not seen yet) goes with this write.
    for (other,) in connection.execute(
        f"SELECT id FROM {MAIN[collection]} WHERE slug = ? AND id <> ?",
        (projected.columns["slug"], entity_id),
    ).fetchall():
        delete(connection, collection, other)
    names = list(projected.columns)
    connection.execute(
        f"INSERT INTO {MAIN[collection]} ({', '.join(names)}) "
        f"VALUES ({', '.join('?' * len(names))})",
        [projected.columns[n] for n in names],
    )
    if projected.values:
        connection.executemany(
            f"INSERT INTO {VALUES[collection]} (field, value, id) VALUES (?, ?, ?)",
            [(f, v, entity_id) for f, v in projected.values],
        )
    if projected.terms:
        connection.executemany(
            f"INSERT INTO {TERMS[collection]} (term, id) VALUES (?, ?)",
            [(term, entity_id) for term in projected.terms],
        )
    for table, row in projected.links:
        connection.execute(
            f"INSERT OR IGNORE INTO {table} VALUES ({', '.join('?' * len(row))})",
            row,
        )


def insert_many(connection: sqlite3.Connection, rows: Iterable[Projected]) -> int:
    """Add entities to an empty file (a rebuild): no deletes to do first."""
    count = 0
    for projected in rows:
        upsert(connection, projected)
        count += 1
    return count


def file_identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_dev, stat.st_ino)


class Readers:
    """This process's read connection, reopened when the file is replaced or deleted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None

    def connection(self) -> sqlite3.Connection:
        # Looked at on every call (one stat, a few microseconds): a rebuild replaces the
        # file, and a write another process of the host applied to the new file must
        # be read from it at once. Checking every half second let a read right after a
        # rebuild come from the old file and miss a write that had already returned.
        identity = file_identity(self.path)
        if self._connection is not None and identity == self._identity:
            return self._connection
        if identity is None and self._connection is not None:
            # Deleted: keep answering from the open file until a new one appears.
            return self._connection
        return self._reopen(identity)

    def _reopen(self, identity: tuple[int, int] | None) -> sqlite3.Connection:
        if identity is None:
            raise ReadModelUnavailable(f"no read model at {self.path} yet")
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            _configure_reader(connection)
            if get_meta(connection, "format") != FORMAT:
                raise ReadModelUnavailable(f"{self.path} is being rebuilt")
        except sqlite3.DatabaseError:
            connection.close()
            if self._connection is not None:
                return self._connection
            raise
        old, self._connection, self._identity = self._connection, connection, identity
        if old is not None:
            old.close()
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _configure_reader(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA busy_timeout=5000")
    connection.execute("PRAGMA temp_store=MEMORY")
    connection.execute("PRAGMA cache_size=-65536")
    connection.execute("PRAGMA mmap_size=268435456")
    connection.execute("PRAGMA query_only=1")

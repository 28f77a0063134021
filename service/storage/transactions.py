"""A unit of work in one multi-document transaction, where the server has them.

Correctness never depends on it: the writes run inside are idempotent and ordered
so that a crash between any two of them leaves nothing a retry cannot finish (see
service.ingest.pipeline). What a transaction adds is one durable commit for the
unit instead of one per document (the embedded server flushes its log once per
commit, --sync-on-commit), and all-or-nothing.

Whether the server has transactions is read once per client from its `hello`
reply: a replica-set member (`setName`) or a mongos (`msg: "isdbgrid"`) with
logical sessions has them; a standalone MongoDB has not. No branch per product:
the embedded server answers as a one-member replica set.
"""

from __future__ import annotations

import contextvars
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from service.storage.collections import Database

T = TypeVar("T")

DUPLICATE_KEY = 11000

# Two units racing to insert the same new document: the loser's unit is run again
# and then finds the winner's document. More attempts than that mean a bug.
DUPLICATE_ATTEMPTS = 3

_support: weakref.WeakKeyDictionary[AsyncMongoClient[Any], bool] = weakref.WeakKeyDictionary()
# Set while a unit of work runs in a transaction: a nested unit joins it.
_active: contextvars.ContextVar[bool] = contextvars.ContextVar("in_transaction", default=False)


def has_transactions(hello: dict[str, Any]) -> bool:
    """Whether a server whose `hello` reply this is runs multi-document transactions."""
    clustered = hello.get("setName") is not None or hello.get("msg") == "isdbgrid"
    return clustered and hello.get("logicalSessionTimeoutMinutes") is not None


async def supports_transactions(db: Database) -> bool:
    client = db.client
    known = _support.get(client)
    if known is None:
        known = _support[client] = has_transactions(await db.command("hello"))
    return known


def only_duplicates(error: Exception) -> bool:
    """Whether every write `error` reports is a duplicate key (two writers raced to
    insert the same new document)."""
    if isinstance(error, DuplicateKeyError):
        return True
    if isinstance(error, BulkWriteError):
        codes = {e.get("code") for e in error.details.get("writeErrors", [])}
        return codes == {DUPLICATE_KEY}
    return False


def running() -> bool:
    """Whether this task is inside a unit of work that runs in a transaction: a write
    error then aborts the transaction, so it is not retried in place but the whole
    unit is run again."""
    return _active.get()


def _joining(db: Database) -> Database:
    # An operation in a transaction may not carry a write concern (the server refuses
    # it); the commit carries the client's, so the unit is as durable as each write
    # on its own would be.
    return db.with_options(write_concern=WriteConcern())


async def in_transaction(db: Database, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work(db)` (which may run more than once: it must be re-runnable) in one
    transaction on `db`'s client, or as it is where the server has none.

    `work` writes through the handle it is given. Every operation it sends through
    that client joins the transaction (the session is bound to the context, so `work`
    passes no session); transient errors (write conflicts, a commit whose result is
    unknown) run it again, as does a duplicate key of two units racing to insert the
    same document. A unit started inside another one joins it.
    """
    if _active.get():
        return await work(_joining(db))
    if not await supports_transactions(db):
        return await work(db)
    joining = _joining(db)

    async def attempt(_session: AsyncClientSession) -> T:
        return await work(joining)

    token = _active.set(True)
    try:
        tries = 0
        while True:
            tries += 1
            try:
                async with db.client.start_session() as session, session.bind(end_session=False):
                    return await session.with_transaction(attempt)
            except (DuplicateKeyError, BulkWriteError) as error:
                if not only_duplicates(error) or tries >= DUPLICATE_ATTEMPTS:
                    raise
    finally:
        _active.reset(token)

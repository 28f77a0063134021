"""Paginators: where the next page of a JSON API starts, and when to stop.

A paginator is a small object a stream composes (no base class to inherit):

    params = paginator.start(state)          # first request, or resume from a checkpoint
    while params is not None:
        response = fetch(params)
        params = paginator.next_params(response, ids_of_its_records)
        checkpoint(paginator.state)          # where the next request starts; {} when done

Every paginator stops on an empty page and raises FatalError("pagination loop ...")
when the source sends it round in circles: a cursor that came back, or a page whose
records are the previous page's again (a server that ignores the page parameter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from connectors.framework.contract import State
from connectors.framework.errors import FatalError
from connectors.framework.mapping import lookup


class Paginator(Protocol):
    def start(self, state: State | None = None) -> dict[str, str]:
        """Query params of the first request: from the beginning, or from `state`."""
        ...

    def next_params(self, response: Any, record_ids: Sequence[str]) -> dict[str, str] | None:
        """Params of the request after the page just read; None when that page was the last.

        `response` is the parsed document, `record_ids` identify its records (in order).
        """
        ...

    @property
    def state(self) -> dict[str, Any]:
        """Where the next request starts, for a Checkpoint; {} once the walk is over,
        so the next run reads the source again from the beginning."""
        ...


class LoopGuard:
    """Remembers cursors and the previous page's ids to catch a walk that goes round."""

    def __init__(self) -> None:
        self._tokens: set[str] = set()
        self._previous_ids: tuple[str, ...] = ()

    def token(self, token: str, what: str) -> None:
        if token in self._tokens:
            raise FatalError(f"pagination loop: {what} {token!r} came back")
        self._tokens.add(token)

    def page(self, record_ids: Sequence[str]) -> None:
        ids = tuple(record_ids)
        if ids and ids == self._previous_ids:
            raise FatalError(
                f"pagination loop: a page repeats the previous page's {len(ids)} records "
                f"(first id {ids[0]!r}); does the source ignore the paging parameter?"
            )
        self._previous_ids = ids


def _size(param: str | None, page_size: int | None) -> dict[str, str]:
    return {param: str(page_size)} if param and page_size is not None else {}


def _int_state(state: State | None, key: str, minimum: int) -> int | None:
    if not state or key not in state:
        return None
    value = state[key]
    # bool is an int subclass: {"page": true} is a corrupt state, not page 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FatalError(
            f"checkpointed state {dict(state)!r}: {key!r} must be an integer >= {minimum}"
        )
    return value


class PageNumberPaginator:
    """`?page=N` (from `start`), with an optional page-size parameter."""

    def __init__(
        self,
        *,
        param: str = "page",
        start: int = 1,
        size_param: str | None = None,
        page_size: int | None = None,
    ) -> None:
        self._param = param
        self._first = start
        self._size = _size(size_param, page_size)
        self._page: int | None = None
        self._guard = LoopGuard()

    def start(self, state: State | None = None) -> dict[str, str]:
        self._guard = LoopGuard()
        resumed = _int_state(state, "page", self._first)
        self._page = self._first if resumed is None else resumed
        return self._params(self._page)

    def next_params(self, response: Any, record_ids: Sequence[str]) -> dict[str, str] | None:
        if self._page is None:
            raise RuntimeError("start() first")
        if not record_ids:
            self._page = None
            return None
        self._guard.page(record_ids)
        self._page += 1
        return self._params(self._page)

    @property
    def state(self) -> dict[str, Any]:
        return {} if self._page is None else {"page": self._page}

    def _params(self, page: int) -> dict[str, str]:
        return {self._param: str(page), **self._size}


class OffsetPaginator:
    """`?offset=N&limit=M`; the next offset counts the records actually received,
    so a server that caps `limit` below what was asked loses nothing."""

    def __init__(
        self, *, offset_param: str = "offset", limit_param: str = "limit", page_size: int = 100
    ) -> None:
        self._offset_param = offset_param
        self._limit = {limit_param: str(page_size)}
        self._offset: int | None = None
        self._guard = LoopGuard()

    def start(self, state: State | None = None) -> dict[str, str]:
        self._guard = LoopGuard()
        resumed = _int_state(state, "offset", 0)
        self._offset = 0 if resumed is None else resumed
        return self._params(self._offset)

    def next_params(self, response: Any, record_ids: Sequence[str]) -> dict[str, str] | None:
        if self._offset is None:
            raise RuntimeError("start() first")
        if not record_ids:
            self._offset = None
            return None
        self._guard.page(record_ids)
        self._offset += len(record_ids)
        return self._params(self._offset)

    @property
    def state(self) -> dict[str, Any]:
        return {} if self._offset is None else {"offset": self._offset}

    def _params(self, offset: int) -> dict[str, str]:
        return {self._offset_param: str(offset), **self._limit}


class CursorPaginator:
    """The next cursor is read from `cursor_path` (dotted) in each response and sent
    back as `param`; a missing or empty cursor ends the walk."""

    def __init__(
        self,
        *,
        cursor_path: str,
        param: str = "cursor",
        size_param: str | None = None,
        page_size: int | None = None,
    ) -> None:
        self._path = cursor_path
        self._param = param
        self._size = _size(size_param, page_size)
        self._cursor: str | None = None
        self._walking = False
        self._guard = LoopGuard()

    def start(self, state: State | None = None) -> dict[str, str]:
        self._guard = LoopGuard()
        self._walking = True
        self._cursor = None
        if state and state.get("cursor") is not None:
            cursor = state["cursor"]
            if not isinstance(cursor, str) or not cursor:
                raise FatalError(f"checkpointed state {dict(state)!r}: 'cursor' must be a string")
            self._cursor = cursor
            self._guard.token(cursor, "cursor")
        return self._params()

    def next_params(self, response: Any, record_ids: Sequence[str]) -> dict[str, str] | None:
        if not self._walking:
            raise RuntimeError("start() first")
        found = lookup(response, self._path) if isinstance(response, dict) else None
        if not record_ids or found is None or found == "" or isinstance(found, bool):
            self._walking = False
            self._cursor = None
            return None
        if isinstance(found, dict | list):
            raise FatalError(f"the cursor at {self._path!r} is not a string or a number")
        self._guard.page(record_ids)
        self._cursor = str(found)
        self._guard.token(self._cursor, "cursor")
        return self._params()

    @property
    def state(self) -> dict[str, Any]:
        if not self._walking or self._cursor is None:
            # Before the first cursor arrives the start is "from the beginning" too.
            return {}
        return {"cursor": self._cursor}

    def _params(self) -> dict[str, str]:
        cursor = {self._param: self._cursor} if self._cursor is not None else {}
        return {**cursor, **self._size}


class SinglePage:
    """An endpoint that answers everything at once (or one record)."""

    def start(self, state: State | None = None) -> dict[str, str]:
        return {}

    def next_params(self, response: Any, record_ids: Sequence[str]) -> dict[str, str] | None:
        return None

    @property
    def state(self) -> dict[str, Any]:
        return {}

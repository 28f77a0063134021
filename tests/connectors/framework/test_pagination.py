"""Paginators in isolation: params, state, resume, stop conditions and loop detection."""

from __future__ import annotations

import pytest

from connectors.framework.errors import FatalError
from connectors.framework.pagination import (
    CursorPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    SinglePage,
)


def test_page_numbers_count_up_and_stop_on_an_empty_page() -> None:
    paginator = PageNumberPaginator(param="page", start=1, size_param="per_page", page_size=2)

    assert paginator.start() == {"page": "1", "per_page": "2"}
    assert paginator.next_params({}, ["a", "b"]) == {"page": "2", "per_page": "2"}
    assert paginator.state == {"page": 2}
    assert paginator.next_params({}, ["c"]) == {"page": "3", "per_page": "2"}
    assert paginator.next_params({}, []) is None
    assert paginator.state == {}  # done: the next run starts over


def test_page_numbers_resume_from_state_and_may_start_at_zero() -> None:
    paginator = PageNumberPaginator(param="p", start=0)

    assert paginator.start() == {"p": "0"}
    assert paginator.start({"page": 7}) == {"p": "7"}
    assert paginator.state == {"page": 7}


@pytest.mark.parametrize("state", [{"page": "2"}, {"page": 0}, {"page": True}])
def test_a_corrupt_page_state_is_fatal(state: dict[str, object]) -> None:
    with pytest.raises(FatalError, match="checkpointed state"):
        PageNumberPaginator(start=1).start(state)


def test_a_page_repeating_the_previous_one_is_a_loop() -> None:
    paginator = PageNumberPaginator()
    paginator.start()
    paginator.next_params({}, ["a", "b"])

    with pytest.raises(FatalError, match="pagination loop"):
        paginator.next_params({}, ["a", "b"])


def test_overlapping_pages_are_not_a_loop() -> None:
    # Offset pages shift when records are inserted meanwhile: overlap is normal.
    paginator = OffsetPaginator(page_size=2)
    paginator.start()
    paginator.next_params({}, ["a", "b"])

    assert paginator.next_params({}, ["b", "c"]) == {"offset": "4", "limit": "2"}


def test_offsets_advance_by_the_records_received() -> None:
    # A server capping `limit` at 2 when 5 were asked must not make us skip records.
    paginator = OffsetPaginator(offset_param="skip", limit_param="take", page_size=5)

    assert paginator.start() == {"skip": "0", "take": "5"}
    assert paginator.next_params({}, ["a", "b"]) == {"skip": "2", "take": "5"}
    assert paginator.state == {"offset": 2}
    assert paginator.next_params({}, []) is None
    assert paginator.state == {}


def test_offsets_resume_from_state() -> None:
    paginator = OffsetPaginator(page_size=10)

    assert paginator.start({"offset": 30}) == {"offset": "30", "limit": "10"}
    with pytest.raises(FatalError, match="checkpointed state"):
        paginator.start({"offset": -1})


def test_cursor_is_read_from_a_dotted_path_and_sent_back() -> None:
    paginator = CursorPaginator(
        cursor_path="meta.next", param="after", size_param="limit", page_size=2
    )

    assert paginator.start() == {"limit": "2"}
    assert paginator.state == {}
    assert paginator.next_params({"meta": {"next": "c1"}}, ["a", "b"]) == {
        "after": "c1",
        "limit": "2",
    }
    assert paginator.state == {"cursor": "c1"}
    # Numeric cursors are sent as text.
    assert paginator.next_params({"meta": {"next": 42}}, ["c"]) == {"after": "42", "limit": "2"}


@pytest.mark.parametrize(
    "response",
    [{"meta": {}}, {"meta": {"next": None}}, {"meta": {"next": ""}}, {"data": []}],
)
def test_a_missing_or_empty_cursor_ends_the_walk(response: dict[str, object]) -> None:
    paginator = CursorPaginator(cursor_path="meta.next")
    paginator.start()

    assert paginator.next_params(response, ["a"]) is None
    assert paginator.state == {}


def test_an_empty_page_ends_the_walk_even_with_a_cursor() -> None:
    paginator = CursorPaginator(cursor_path="next")
    paginator.start()

    assert paginator.next_params({"next": "c9"}, []) is None


def test_a_cursor_that_comes_back_is_a_loop() -> None:
    paginator = CursorPaginator(cursor_path="next")
    paginator.start()
    paginator.next_params({"next": "c1"}, ["a"])
    paginator.next_params({"next": "c2"}, ["b"])

    with pytest.raises(FatalError, match="pagination loop: cursor 'c1' came back"):
        paginator.next_params({"next": "c1"}, ["c"])


def test_a_resumed_cursor_is_sent_and_remembered() -> None:
    paginator = CursorPaginator(cursor_path="next")

    assert paginator.start({"cursor": "c5"}) == {"cursor": "c5"}
    assert paginator.state == {"cursor": "c5"}
    with pytest.raises(FatalError, match="pagination loop"):
        paginator.next_params({"next": "c5"}, ["x"])


def test_a_structured_cursor_is_fatal() -> None:
    paginator = CursorPaginator(cursor_path="next")
    paginator.start()

    with pytest.raises(FatalError, match="not a string"):
        paginator.next_params({"next": {"page": 2}}, ["a"])


def test_start_again_forgets_the_previous_walk() -> None:
    paginator = CursorPaginator(cursor_path="next")
    paginator.start()
    paginator.next_params({"next": "c1"}, ["a"])

    paginator.start()

    assert paginator.next_params({"next": "c1"}, ["a"]) == {"cursor": "c1"}


def test_a_single_page_has_no_next_and_no_state() -> None:
    paginator = SinglePage()

    assert paginator.start({"anything": 1}) == {}
    assert paginator.next_params({"next": "x"}, ["a"]) is None
    assert paginator.state == {}

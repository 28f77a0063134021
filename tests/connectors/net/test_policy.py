"""FetchPolicy validation and reading a Retry-After value."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from connectors.net.policy import FetchPolicy, parse_retry_after


def test_policy_is_frozen_and_strict() -> None:
    with pytest.raises(ValidationError, match="allowed_networks"):
        FetchPolicy(allowed_networks=["not a network"])
    with pytest.raises(ValidationError, match="extra"):
        FetchPolicy(retries=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="absolute"):
        FetchPolicy(allow_file_roots=["relative/dir"])
    with pytest.raises(ValidationError, match="frozen"):
        FetchPolicy().max_attempts = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("-5", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("inf", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected

from __future__ import annotations

from connectors.framework.conditional import Validators
from connectors.framework.contract import Fetched

STAMP = "Wed, 01 Jan 2025 00:00:00 GMT"


def test_validators_are_read_from_headers_in_any_case() -> None:
    found = Validators.of_response({"ETag": '"v1"', "Last-Modified": STAMP, "X-Other": "1"})
    assert found == Validators('"v1"', STAMP)
    assert Validators.of_response({"etag": ""}) == Validators()


def test_state_leaves_out_what_the_response_did_not_give() -> None:
    assert Validators('"v1"', STAMP).state() == {"etag": '"v1"', "last_modified": STAMP}
    assert Validators(last_modified=STAMP).state() == {"last_modified": STAMP}
    assert Validators().state() == {}
    assert Fetched("u", 200, b"", {"etag": '"v1"'}).validators == {"etag": '"v1"'}


def test_request_headers_send_the_pair_back_beside_the_callers_own() -> None:
    asked = Validators('"v1"', STAMP).request_headers({"authorization": "Bearer t"})
    assert asked == {
        "authorization": "Bearer t",
        "if-none-match": '"v1"',
        "if-modified-since": STAMP,
    }
    assert Validators().request_headers() == {}

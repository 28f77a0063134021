from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from connectors.framework.reasons import validation_reason


class _Span(BaseModel):
    start: int
    end: int

    @model_validator(mode="after")
    def _ordered(self) -> _Span:
        if self.end < self.start:
            raise ValueError("end before start")
        return self


def _error(**values: object) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        _Span.model_validate(values)
    return raised.value


def test_each_problem_is_named_by_its_field_path() -> None:
    reason = validation_reason(_error(start="x"))
    assert reason == (
        "start: Input should be a valid integer, unable to parse string as an integer; "
        "end: Field required"
    )


def test_a_problem_with_the_whole_value_gets_the_name_given_for_it() -> None:
    error = _error(start=2, end=1)
    assert validation_reason(error) == ": Value error, end before start"
    assert validation_reason(error, whole="payload") == "payload: Value error, end before start"


def test_a_prefix_goes_before_every_path() -> None:
    assert validation_reason(_error(start=1), whole="(root)", prefix="config.") == (
        "config.end: Field required"
    )

"""A pydantic ValidationError as the one line a Rejected record or a config error carries."""

from __future__ import annotations

from pydantic import ValidationError


def validation_reason(error: ValidationError, *, whole: str = "", prefix: str = "") -> str:
    """Every problem as "field.path: message", joined by "; ".

    `whole` stands for the path of a problem with the whole value (a model validator's);
    `prefix` goes before every path ("config." for a source's configuration).
    """
    problems = (
        f"{prefix}{'.'.join(str(part) for part in e['loc']) or whole}: {e['msg']}"
        for e in error.errors(include_url=False)
    )
    return "; ".join(problems)

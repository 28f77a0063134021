"""A record with a bad value: left out of the record, or the record refused.

A mapping's `apply` gives the payload, the raw value behind each target and the
values a transform could not read. `settle` then checks the payload against the
entity's model and decides, field by field, with the mapping's `invalid_values`:

- a bad value of an optional field is left out (the record is kept without it and
  the value comes back as a warning), or, under "reject_row", refuses the record
  with a reason naming the field;
- a bad value that cannot be left out (a required field, or the record as a whole:
  an end before its start) leaves the payload as it is: ingestion refuses it then,
  naming every bad field, so nothing is dropped from a record that is refused anyway.

The unit left out is the smallest part the model's error is about: one identifier
of a list, `name.ru` when `name.en` remains, `venue.location` of a venue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

IDENTIFIERS = "identifiers"
_ROUNDS = 5  # validations after leaving parts out; every round leaves one out at least
_VALUE_ERROR = "Value error, "

Policy = Callable[[str], Literal["drop_field", "reject_row"]]
Part = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """A value of a record that was not used: the mapping's target, the raw value, why."""

    target: str
    raw: Any
    message: str


@dataclass
class Applied:
    """What a mapping made of one record: the payload, the raw value behind each target,
    the values it could not read, and the target each identifier entry came from."""

    payload: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    identifier_targets: list[str] = field(default_factory=list)


def settle(model: type[BaseModel], applied: Applied, policy: Policy) -> list[Problem] | str:
    """Leave out of `applied.payload` what may be left out; returns what was (for the
    warnings), or the reason the record is refused (naming the fields)."""
    payload = applied.payload
    left_out: list[Problem] = []
    refused: list[str] = []
    for problem in applied.problems:
        head = problem.target.partition(".")[0]
        if _required(model, head) and not payload.get(head):
            refused.append(f"{problem.target}: {problem.message}")
        elif policy(problem.target) == "reject_row":
            refused.append(f"{problem.target}: {problem.message}")
        else:
            left_out.append(problem)
    if refused:
        return "; ".join(refused)
    for _ in range(_ROUNDS):
        try:
            model.model_validate(payload)
        except ValidationError as error:
            found = _bad_parts(model, payload, applied, error)
            if found is None:
                return left_out  # not all of it can be left out: ingestion refuses it
            rejecting = [p for _, p in found if policy(p.target) == "reject_row"]
            if rejecting:
                return "; ".join(f"{p.target}: {p.message}" for p in rejecting)
            # The last items of a list first, so the indexes of the others hold.
            for part, _ in sorted(found, key=lambda item: _order(item[0]), reverse=True):
                _remove(payload, part)
            left_out.extend(p for _, p in found)
        else:
            return left_out
    return left_out


def _required(model: type[BaseModel], head: str) -> bool:
    info = model.model_fields.get(head)
    return info is not None and info.is_required()


def _bad_parts(
    model: type[BaseModel], payload: dict[str, Any], applied: Applied, error: ValidationError
) -> list[tuple[Part, Problem]] | None:
    """The parts of the payload the errors are about, each once; None when one of them
    cannot be left out."""
    found: dict[Part, Problem] = {}
    for item in error.errors(include_url=False):
        part = _part(payload, tuple(item["loc"]))
        if part is None or not _may_leave_out(model, payload, part):
            return None
        if part not in found:
            message = str(item["msg"]).removeprefix(_VALUE_ERROR)
            target = _target(part, applied)
            found[part] = Problem(target, _raw(part, target, payload, applied), message)
    return sorted(found.items(), key=lambda entry: _order(entry[0])) or None


def _order(part: Part) -> tuple[tuple[int, str], ...]:
    return tuple((step, "") if isinstance(step, int) else (-1, step) for step in part)


def _part(payload: dict[str, Any], loc: tuple[Any, ...]) -> Part | None:
    """The smallest part of the payload present under `loc` (a list item is one)."""
    parts: list[str | int] = []
    node: Any = payload
    for step in loc:
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            break
        parts.append(step)
        if isinstance(step, int):
            break
    return tuple(parts) or None


def _may_leave_out(model: type[BaseModel], payload: dict[str, Any], part: Part) -> bool:
    head = part[0]
    if not isinstance(head, str) or not _required(model, head):
        return True
    if len(part) < 2:
        return False
    # A part of a required field, when something else of it remains (name.en beside .ru).
    container = payload.get(head)
    if isinstance(container, dict):
        return any(v for k, v in container.items() if k != part[1])
    if isinstance(container, list):
        return len(container) > 1
    return False


def _target(part: Part, applied: Applied) -> str:
    if part[0] == IDENTIFIERS and len(part) > 1 and isinstance(part[1], int):
        if part[1] < len(applied.identifier_targets):
            return applied.identifier_targets[part[1]]
    return ".".join(str(p) for p in part if isinstance(p, str))


def _raw(part: Part, target: str, payload: dict[str, Any], applied: Applied) -> Any:
    """The value as the source wrote it: the cell behind the target, the item of a list,
    or the cells behind an object's parts."""
    item_of_list = isinstance(part[-1], int) and part[0] != IDENTIFIERS
    if target in applied.raw and not item_of_list:
        return applied.raw[target]
    below = {t: v for t, v in applied.raw.items() if t.startswith(target + ".")}
    if below and not item_of_list:
        return below
    node: Any = payload
    for step in part:
        node = node[step]
    return node


def _remove(payload: dict[str, Any], part: Part) -> None:
    node: Any = payload
    for step in part[:-1]:
        node = node[step]
    del node[part[-1]]
    if len(part) > 1 and not payload.get(str(part[0])):
        del payload[str(part[0])]  # nothing left of it: absent, not empty

"""Validation problems of a source in plain words: one per field, as an admin reads them.

Pydantic reports a union's every branch ("fields.form.str: Input should be a valid
string" beside the real problem of the object form), names union members inside the
path ("pagination.cursor.cursor_path", "function-after[_consistent(), FieldRule]") and
speaks its own language ("Field required", "Extra inputs are not permitted"). Here the
path is walked along the model, so union tags leave it; a branch that failed only
because the value is of another branch's type is dropped; and each kind of error is
said as a person would ("is required", "is not a setting here; the settings are ...").
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from schema.admin.problems import AdminInputProblem

_VALUE_ERROR = "Value error, "
# Errors that only say "the value is not of this branch's type".
_WRONG_TYPE = frozenset(
    {
        "string_type",
        "int_type",
        "float_type",
        "bool_type",
        "list_type",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "is_instance_of",
    }
)


@dataclass(frozen=True)
class _Walked:
    path: tuple[str | int, ...]  # the field's path without union tags
    branch: tuple[str | int, ...] | None  # the path up to the union, when one was passed
    parent: type[BaseModel] | None  # the model holding the last step, if any


def problems(
    error: ValidationError, model: type[BaseModel], prefix: str = ""
) -> list[AdminInputProblem]:
    """Every problem of `error` (raised validating `model`) as (field, plain message).

    A problem of the model as a whole (no location) is left to the caller: its message
    names its fields itself."""
    walked = [
        (item, _walk(model, tuple(item["loc"])))
        for item in error.errors(include_url=False)
        if item["loc"]
    ]
    kept = _without_wrong_branches(walked)
    found: list[AdminInputProblem] = []
    for item, where in kept:
        field = prefix + ".".join(str(step) for step in where.path)
        problem = named(field.rstrip(".") or "input", _message(item, where))
        if problem not in found:
            found.append(problem)
    return found


def named(field: str, message: str) -> AdminInputProblem:
    """One problem; a message naming a part of the field ("fields.x: ...") extends it."""
    message = message.removeprefix(_VALUE_ERROR)
    part, separator, rest = message.partition(": ")
    if separator and part and " " not in part and all(c.isalnum() or c in "._-[]'" for c in part):
        return named(f"{field}.{part}", rest)
    return AdminInputProblem(field=field, message=message)


def _without_wrong_branches(
    walked: Sequence[tuple[ErrorDetails, _Walked]],
) -> list[tuple[ErrorDetails, _Walked]]:
    """Drop a union branch's errors when they only say the value is of another type and
    another branch of the same union has a real problem with it."""
    real_branches = {
        where.branch
        for item, where in walked
        if where.branch is not None and item["type"] not in _WRONG_TYPE
    }
    return [
        (item, where)
        for item, where in walked
        if not (where.branch in real_branches and item["type"] in _WRONG_TYPE)
    ]


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> _Walked:
    path: list[str | int] = []
    branch: tuple[str | int, ...] | None = None
    annotation: Any = model
    parent: type[BaseModel] | None = None
    for step in loc:
        annotation = _unwrapped(annotation)
        members = _union_members(annotation)
        if members and isinstance(step, str):
            branch = tuple(path)
            annotation = _member(members, step)
            continue
        path.append(step)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            parent = annotation
            info = annotation.model_fields.get(str(step))
            annotation = info.annotation if info is not None else Any
        elif get_origin(annotation) is dict:
            parent = None
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) in (list, tuple):
            parent = None
            annotation = get_args(annotation)[0]
        else:
            parent = None
            annotation = Any
    return _Walked(tuple(path), branch, parent)


def _unwrapped(annotation: Any) -> Any:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    members = _union_members(annotation)
    real = [m for m in members if m is not type(None)]
    if members and len(real) == 1:  # an optional value: not a union to pass through
        return _unwrapped(real[0])
    return annotation


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(_unwrapped(m) for m in get_args(annotation))
    return ()


def _member(members: tuple[Any, ...], tag: str) -> Any:
    """The union member a location tag names: a discriminator value ("cursor"), a type
    ("str", "list[str]") or a validator around a model ("function-after[..., FieldRule]")."""
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            if tag == member.__name__ or tag.endswith(f" {member.__name__}]"):
                return member
            for info in member.model_fields.values():
                if get_origin(info.annotation) is Literal and tag in get_args(info.annotation):
                    return member
        name = getattr(member, "__name__", None)
        if tag in (name, str(member)):
            return member
    return Any


def _message(item: ErrorDetails, where: _Walked) -> str:
    kind = item["type"]
    context = item.get("ctx") or {}
    given = item.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        known = ", ".join(sorted(where.parent.model_fields)) if where.parent else ""
        return "is not a setting here" + (f"; the settings are: {known}" if known else "")
    if kind in ("enum", "literal_error"):
        return f"{given!r} is not one of {context.get('expected', '')}"
    if kind == "union_tag_invalid":
        return (
            f"{context.get('tag')!r} is not a known type; use one of {context.get('expected_tags')}"
        )
    if kind == "union_tag_not_found":
        return f"needs {context.get('discriminator')}, one of the known types"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number, not {given!r}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number, not {given!r}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, not {given!r}"
    if kind == "string_type":
        return "must be text"
    if kind == "list_type":
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be an object {...}"
    if kind in ("greater_than_equal", "greater_than"):
        bound = context.get("ge", context.get("gt"))
        return f"must be {'at least' if kind == 'greater_than_equal' else 'more than'} {bound}"
    if kind in ("less_than_equal", "less_than"):
        bound = context.get("le", context.get("lt"))
        return f"must be {'at most' if kind == 'less_than_equal' else 'less than'} {bound}"
    if kind == "too_short":
        return f"needs at least {context.get('min_length')}"
    if kind == "too_long":
        return f"takes at most {context.get('max_length')}"
    if kind == "string_pattern_mismatch":
        return f"{given!r} does not have the expected form ({context.get('pattern')})"
    message = str(item["msg"]).removeprefix(_VALUE_ERROR)
    return message.replace("Input should be", "must be", 1)

"""Admin work on sources: validated create/update, enable, delete, and how they are shown.

Every spec change goes through `SourceSpec` as a whole, so a source is never
stored in a state registration would refuse; problems come back with the field
they concern. Secrets in connector configs are masked when shown, and the mask
sent back in an update keeps the stored value.

Deleting a source (refused while it has an active run) disables it first, so no
new run or schedule can start, then revokes its partner keys, withdraws its
applied listings (only with `withdraw_listings`; otherwise a source with applied
listings is refused), removes its stored listings and finally the source. Each
step can be repeated, so a delete interrupted half-way is finished by asking
again. Run history is kept: it is the record of what happened.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import SecretStr, ValidationError
from strawberry import UNSET

from connectors.examples import EXAMPLES
from connectors.registry import KINDS
from schema.admin.problems import (
    AdminInputProblem,
    InvalidAdminInput,
    SourceHasListings,
    SourceNotFound,
)
from schema.admin.reports import SourceDeleted
from schema.admin.runs import SyncRunActive
from schema.documents import SourceDoc, SourceView
from schema.inputs import SourceInput, SourceUpdate
from schema.ports.admin import KindInfo
from service.admin import plain_words
from service.admin.runs import run_active
from service.admin.source_checks import file_problems
from service.ingest import warnings
from service.ingest.withdrawal import withdraw_unseen
from service.settings import Settings
from service.storage import stored
from service.storage.collections import API_KEYS, LISTINGS, SOURCES, Database
from service.sync.cron import next_due
from service.sync.runs import active_run
from service.sync.sources import (
    PUSH,
    SourceError,
    SourceSpec,
    add_source,
    delete_source,
    update_source,
)

MASK = "**********"
_UPDATABLE = ("name", "config", "schedule", "enabled", "priority", "field_priorities")
_SPEC_FIELDS = (
    "name",
    "family",
    "kind",
    "config",
    "schedule",
    "enabled",
    "priority",
    "field_priorities",
)
# "config.url: ...; config.mapping: ..." (connectors.registry.ConfigError) -> one per field.
_NEXT_CONFIG_PROBLEM = re.compile(r"; (?=config\.)")
# A field path as pydantic and our validators write it: "config.mapping.fields.name.ru".
_PATH = re.compile(r"^[A-Za-z_][\w.\[\]'-]*$")
_VALUE_ERROR = "Value error, "
# Pydantic names a union member's validator in the location: not part of the field.
_VALIDATOR_STEP = re.compile(r"\.function-[a-z]+\[[^\]]*\]")


def view(doc: SourceDoc, now: datetime) -> SourceView:
    """The source as shown: secrets masked, the next scheduled run added."""
    enabled = doc.get("enabled", True)
    schedule = doc.get("schedule")
    return {
        **doc,
        "config": masked(doc["kind"], doc.get("config") or {}),
        "next_run_at": next_due(schedule, now) if enabled and schedule else None,
    }


def connector_kinds() -> list[KindInfo]:
    return [
        KindInfo(
            kind=name,
            description=kind.description,
            config_schema=kind.config.model_json_schema(),
            example=EXAMPLES[name],
        )
        for name, kind in KINDS.items()
    ]


def _is_secret(annotation: Any) -> bool:
    """`SecretStr`, or an optional one (not a container of them)."""
    if annotation is SecretStr:
        return True
    return get_origin(annotation) in (Union, UnionType) and SecretStr in get_args(annotation)


def _secret_fields(kind: str) -> dict[str, bool]:
    """The config's secret fields: name -> whether it is a mapping of secrets.

    Secrets are top-level fields today (request headers, tap environment); a nested
    secret would need this to walk into sub-models.
    """
    if kind not in KINDS:
        return {}
    found: dict[str, bool] = {}
    for name, info in KINDS[kind].config.model_fields.items():
        annotation = info.annotation
        if _is_secret(annotation):
            found[name] = False
        elif get_origin(annotation) is dict and _is_secret(get_args(annotation)[1]):
            found[name] = True
    return found


def masked(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    shown = dict(config)
    for name, is_mapping in _secret_fields(kind).items():
        value = shown.get(name)
        if is_mapping and isinstance(value, dict):
            shown[name] = dict.fromkeys(value, MASK)
        elif value is not None:
            shown[name] = MASK
    return shown


def _with_stored_secrets(
    kind: str, config: dict[str, Any], stored: dict[str, Any]
) -> dict[str, Any]:
    """`config` with every masked secret replaced by the stored value it stands for."""
    config = dict(config)
    for name, is_mapping in _secret_fields(kind).items():
        value, old = config.get(name), stored.get(name)
        if is_mapping and isinstance(value, dict) and isinstance(old, dict):
            config[name] = {k: old[k] if v == MASK and k in old else v for k, v in value.items()}
        elif value == MASK and old is not None:
            config[name] = old
    return config


def _split_message(text: str) -> list[AdminInputProblem]:
    """Problems from a message that starts with the field it is about ("kind: ...")."""
    problems = []
    for part in _NEXT_CONFIG_PROBLEM.split(text.removeprefix(_VALUE_ERROR)):
        field, separator, message = part.partition(": ")
        field = _VALIDATOR_STEP.sub("", field)
        if separator and _PATH.match(field):
            problems.append(plain_words.named(field, message))
        else:
            problems.append(AdminInputProblem(field="input", message=part))
    return problems


def spec_problems(error: ValidationError, given: dict[str, Any]) -> list[AdminInputProblem]:
    """Every problem of a source spec, one per field in plain words: the connector
    configuration's too, whatever else is wrong (pydantic checks it only once the
    other fields are valid)."""
    found = plain_words.problems(error, SourceSpec)
    kind, config = given.get("kind"), given.get("config")
    remade = isinstance(kind, str) and kind in KINDS and isinstance(config, dict)
    for item in error.errors(include_url=False):
        if not item["loc"]:  # a check of the whole spec (the connector's config: see below)
            found += [p for p in _split_message(str(item["msg"])) if not (remade and _of_config(p))]
    if remade and isinstance(kind, str) and isinstance(config, dict):
        try:
            KINDS[kind].config.model_validate(config)
        except ValidationError as invalid:
            found += plain_words.problems(invalid, KINDS[kind].config, prefix="config.")
    unique: list[AdminInputProblem] = []
    for problem in found:
        if problem not in unique:
            unique.append(problem)
    return unique


def _of_config(problem: AdminInputProblem) -> bool:
    return problem.field == "config" or problem.field.startswith("config.")


def _validated(fields: dict[str, Any]) -> SourceSpec | InvalidAdminInput:
    try:
        return SourceSpec.model_validate(fields)
    except ValidationError as error:
        return InvalidAdminInput.of(spec_problems(error, fields))


async def create(
    db: Database, given: SourceInput, settings: Settings
) -> SourceDoc | InvalidAdminInput:
    spec = _validated(
        {
            "id": given.id,
            "name": given.name,
            "family": given.family.value,
            "kind": given.kind,
            "config": given.config,
            "schedule": given.schedule,
            "enabled": given.enabled,
            "priority": given.priority,
            "field_priorities": given.field_priorities,
        }
    )
    if isinstance(spec, InvalidAdminInput):
        return spec
    if spec.kind != PUSH:
        problems = await file_problems(spec.id, spec.kind, spec.config, settings)
        if problems:
            return InvalidAdminInput.of(problems)
    try:
        return await add_source(db, spec)
    except SourceError as error:  # the id is taken
        return InvalidAdminInput.of(_split_message(str(error)))


async def update(
    db: Database, source_id: str, changes: SourceUpdate, settings: Settings
) -> SourceDoc | InvalidAdminInput | SourceNotFound:
    found = await db[SOURCES].find_one({"_id": source_id})
    if found is None:
        return SourceNotFound.of(source_id)
    source = stored.source(found)
    given = {name: getattr(changes, name) for name in _UPDATABLE}
    given = {name: value for name, value in given.items() if value is not UNSET}
    nulls = [name for name, value in given.items() if value is None and name != "schedule"]
    if nulls:
        return InvalidAdminInput.of(
            [AdminInputProblem(field=name, message="cannot be null") for name in nulls]
        )
    if isinstance(given.get("config"), dict):
        given["config"] = _with_stored_secrets(source["kind"], given["config"], source["config"])
    # A key the stored source lacks (written before it existed) takes its default.
    kept: dict[str, Any] = dict(source)
    current = {name: kept[name] for name in _SPEC_FIELDS if name in kept}
    spec = _validated({"id": source_id, **current, **given})
    if isinstance(spec, InvalidAdminInput):
        return spec
    if not given:
        return source
    if "config" in given and spec.kind != PUSH and spec.config != source.get("config"):
        problems = await file_problems(source_id, spec.kind, spec.config, settings)
        if problems:
            return InvalidAdminInput.of(problems)
    checked = spec.model_dump(mode="json")
    updated = await update_source(db, source_id, {name: checked[name] for name in given})
    return updated if updated is not None else SourceNotFound.of(source_id)


async def set_enabled(db: Database, source_id: str, enabled: bool) -> SourceDoc | SourceNotFound:
    updated = await update_source(db, source_id, {"enabled": enabled})
    return updated if updated is not None else SourceNotFound.of(source_id)


async def delete(
    db: Database, source_id: str, withdraw_listings: bool
) -> SourceDeleted | SourceNotFound | SyncRunActive | SourceHasListings:
    source = await db[SOURCES].find_one({"_id": source_id}, {"enabled": 1, "kind": 1})
    if source is None:
        return SourceNotFound.of(source_id)
    refused = await _refusal(db, source_id, withdraw_listings)
    if refused is not None:
        return refused
    # Disabled, no run can be queued for it any more; one queued just before is caught
    # by looking again, and the source is left as it was.
    await update_source(db, source_id, {"enabled": False})
    running = await active_run(db, source_id)
    if running is not None:
        await update_source(db, source_id, {"enabled": source.get("enabled", True)})
        return run_active(source_id, running)
    revoked = await db[API_KEYS].update_many(
        {"source_id": source_id, "revoked_at": None}, {"$set": {"revoked_at": datetime.now(UTC)}}
    )
    # An epoch no listing was ever seen in: every applied listing is withdrawn.
    withdrawn = await withdraw_unseen(db, source_id, f"delete-{uuid.uuid4().hex}")
    deleted = await db[LISTINGS].delete_many({"source_id": source_id})
    await warnings.forget_source(db, source_id)
    await delete_source(db, source_id)
    return SourceDeleted(
        source_id=source_id,
        withdrawn_listings=withdrawn,
        deleted_listings=deleted.deleted_count,
        revoked_keys=revoked.modified_count,
    )


async def _refusal(
    db: Database, source_id: str, withdraw_listings: bool
) -> SyncRunActive | SourceHasListings | None:
    running = await active_run(db, source_id)
    if running is not None:
        return run_active(source_id, running)
    if withdraw_listings:
        return None
    applied = await db[LISTINGS].count_documents({"source_id": source_id, "state": "applied"})
    if applied:
        return SourceHasListings(
            message=f"source {source_id!r} still feeds {applied} applied listings; "
            "pass withdrawListings: true to withdraw them first",
            source_id=source_id,
            applied_listings=applied,
        )
    return None

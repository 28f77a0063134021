"""The stored documents: what the writers put in MongoDB and the readers get back.

One declaration per collection, shared by the code that writes a document
(`service.documents.normalize` and `service.ingest` for entities and listings,
`service.sync` for sources and runs) and the code that reads it (the resolvers'
`from_doc`, `service.read`, `service.live`, `service.admin`), so a field renamed on
one side only fails `mypy --strict`, and one written but not declared fails
`tests/schema/test_documents.py`. They are `TypedDict`s: documents stay the plain
dicts PyMongo returns, at no cost; `service.storage.stored` is where a dict read
from a collection becomes one of these types.

A key marked `NotRequired` may be absent from a stored document; `| None` means
it is always there and may be null. Codes of the vocabulary (`kind`, `status`,
...) are stored as the plain strings of `schema.taxonomy` / `schema.enums`.

A `...View` is what a reader gets when it does not read the whole document (the
read side leaves out `match_keys`) or when the service adds to it (a source as
admins see it). Other projections are not declared: they stay plain dicts.
"""

# No `from __future__ import annotations`: on Python 3.11 a TypedDict only sees
# `NotRequired` in annotations that are evaluated, and `__required_keys__` is how
# tests/schema/test_documents.py tells required keys from optional ones.
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from bson import ObjectId

# -- parts ---------------------------------------------------------------------------------


class LocalizedDoc(TypedDict, total=False):
    """Text in Russian and/or English: only the languages given are stored (one at least)."""

    ru: str
    en: str


class GeoJSONPoint(TypedDict):
    """A point as GeoJSON (longitude first), the shape MongoDB's geo queries take."""

    type: Literal["Point"]
    coordinates: list[float]


class ProvenanceEntry(TypedDict):
    """One item of an entity's `sources`: a source supports it under this id."""

    source_id: str
    external_id: str
    url: str | None
    fetched_at: datetime


class ChannelDoc(TypedDict):
    type: str
    url: str
    label: NotRequired[str]


class IdentifierDoc(TypedDict):
    scheme: str
    value: str


class VenueDoc(TypedDict, total=False):
    """Only the parts a source gave are stored."""

    name: str
    address: str
    city: str
    country: str
    location: GeoJSONPoint


class MoneyDoc(TypedDict):
    amount: float
    currency: str


# -- entities ------------------------------------------------------------------------------
#
# An entity document holds the entity, its provenance and its match keys, nothing
# derived for reads: the read model (service.read_model.rows) computes its sort keys,
# filter values and search terms from these fields. Per entity: `<Entity>Fields` is
# what normalization derives from a listing's payload; `<Entity>View` is the stored
# document as the read side returns it (without the match keys, see
# service.read_model.rows); `<Entity>Doc` is the whole stored document.


class Matchable(TypedDict):
    """Hard keys (service.ingest.matching): written, matched on, never returned."""

    match_keys: list[str]


class ContributionDoc(TypedDict):
    """What one listing says of an entity several listings feed: its normalized fields
    (an `<Entity>Fields`), kept so that each field's winner can be chosen again when a
    listing changes or leaves (service.ingest.survivorship)."""

    source_id: str
    external_id: str
    fetched_at: datetime
    fields: dict[str, Any]


class FieldProvenanceDoc(TypedDict):
    """Which listing supplied the value an entity shows for one field."""

    field: str  # the stored field's name: "founded_year"
    source_id: str
    external_id: str
    fetched_at: datetime


class FieldAlternativeDoc(FieldProvenanceDoc):
    """A value another listing gives for a field, not the one shown."""

    value: Any


class EntityBase(TypedDict):
    """What every entity document carries besides its content; the server owns it."""

    _id: ObjectId
    slug: str
    sources: list[ProvenanceEntry]
    created_at: datetime
    updated_at: datetime
    # Only on an entity several listings feed (service.ingest.survivorship); one fed
    # by a single listing shows that listing's fields, all supplied by `sources[0]`.
    contributions: NotRequired[list[ContributionDoc]]
    provenance: NotRequired[list[FieldProvenanceDoc]]
    alternatives: NotRequired[list[FieldAlternativeDoc]]


class TitledContent(TypedDict):
    """The localized title and description events and standards share."""

    title: LocalizedDoc
    description: LocalizedDoc | None


class CommunityFields(TypedDict):
    name: LocalizedDoc
    description: LocalizedDoc | None
    aliases: list[str]
    kind: str
    form: str
    formality: str
    industries: list[str]
    countries: list[str]
    region: str | None
    city: str | None
    location: GeoJSONPoint | None
    website: str | None
    channels: list[ChannelDoc]
    founded_year: int | None
    member_count: int | None
    offers: list[str]
    tags: list[str]
    identifiers: list[IdentifierDoc]
    # As the listing states them; the stored document adds cluster memberships.
    member_of: list[ObjectId]
    partners: list[ObjectId]
    status: str


class CommunityView(EntityBase, CommunityFields):
    # `member_of` as its own listing states it; `member_of` adds `clusters`.
    own_member_of: list[ObjectId]
    # The clusters whose registries list it as a member (service.ingest.memberships).
    clusters: NotRequired[list[ObjectId]]


class CommunityDoc(CommunityView, Matchable):
    pass


class EventFields(TitledContent):
    format: str
    starts_at: datetime
    ends_at: datetime | None
    timezone: str
    all_day: bool
    attendance_mode: str
    venue: VenueDoc | None
    online_url: str | None
    status: str
    organizers: list[ObjectId]
    url: str | None
    price: MoneyDoc | None
    is_free: bool | None
    languages: list[str]
    tags: list[str]


class EventView(EntityBase, EventFields):
    pass


class EventDoc(EventView, Matchable):
    pass


class StandardFields(TitledContent):
    code: str
    kind: str
    status: str
    version: str | None
    issuer: ObjectId | None
    adopters: list[ObjectId]
    industries: list[str]
    url: str | None


class StandardView(EntityBase, StandardFields):
    pass


class StandardDoc(StandardView, Matchable):
    pass


class NewTombstoneDoc(TypedDict):
    """A withdrawn community or event, kept a day for change-feed subscribers."""

    entity: str
    entity_id: ObjectId
    source_ids: list[str]
    industries: list[str]
    countries: list[str]
    withdrawn_at: datetime
    expires_at: datetime


class TombstoneDoc(NewTombstoneDoc):
    _id: ObjectId


# -- listings ------------------------------------------------------------------------------


class FieldErrorDoc(TypedDict):
    path: str
    message: str


class RefusedRecord(TypedDict):
    """A listing's latest refused record and why it was refused."""

    payload: dict[str, Any]
    hash: str
    url: str | None
    fetched_at: datetime
    errors: list[FieldErrorDoc]


class ListingDoc(TypedDict):
    """Every record a source delivered, as received, keyed by (source_id, external_id).

    `payload`, `hash` and the keys beside them hold the last *applied* record: a
    listing that was only ever refused has none of them, only `rejected`.
    """

    _id: ObjectId
    source_id: str
    external_id: str
    entity: str
    # The entity it feeds (reserved for a listing not applied yet).
    entity_id: ObjectId
    received_at: datetime
    state: Literal["applied", "rejected", "withdrawn"]
    hash: NotRequired[str]
    applied_hash: NotRequired[str]
    payload: NotRequired[dict[str, Any]]
    url: NotRequired[str | None]
    fetched_at: NotRequired[datetime]
    # External ids (same source) of communities it points at that have not arrived.
    waiting_for: NotRequired[list[str]]
    # The last full pass of its source that saw it.
    seen_epoch: NotRequired[str]
    withdrawn_at: NotRequired[datetime]
    rejected: NotRequired[RefusedRecord]


class ListingWarningDoc(TypedDict):
    """A value a kept listing was stored without (service.ingest.warnings), keyed by
    (source_id, external_id, field)."""

    source_id: str
    external_id: str
    field: str  # the payload path: "founded_year", "identifiers.inn", "venue.country"
    raw: Any  # the value as the source wrote it (long text cut)
    message: str
    recorded_at: datetime


class ListingWarningView(ListingWarningDoc):
    _id: ObjectId


class RejectedListingView(TypedDict):
    """A listing holding a refused record, read without its applied `payload`."""

    _id: ObjectId
    source_id: str
    external_id: str
    entity: str
    state: Literal["applied", "rejected", "withdrawn"]
    received_at: datetime
    rejected: RefusedRecord


# -- sources -------------------------------------------------------------------------------


class StreamState(TypedDict):
    """A stream's checkpoint: the connector's own state value, and whether the stream ended."""

    state: dict[str, Any]
    complete: bool


class SourceSync(TypedDict):
    """Written by the sync engine only."""

    # The full pass under way (None between passes and for incremental runs).
    epoch: str | None
    streams: dict[str, StreamState]
    # A fingerprint of the configuration the stream states were made with: a run that
    # finds another one reads everything again (service.sync.engine).
    config_hash: NotRequired[str]
    # The fencing token, bumped at every claim of one of its runs (service.sync.runs).
    fence: NotRequired[int]


class SourceDoc(TypedDict):
    _id: str
    name: str
    family: str
    kind: str
    config: dict[str, Any]
    schedule: str | None
    enabled: bool
    priority: int
    field_priorities: NotRequired[dict[str, int]]
    sync: SourceSync
    created_at: datetime
    updated_at: datetime


class SourceView(SourceDoc):
    """A source as admins see it: secrets of `config` masked, the next due run added."""

    next_run_at: datetime | None


# -- sync runs -----------------------------------------------------------------------------


class RunCounts(TypedDict):
    fetched: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    withdrawn: int
    # Values kept listings were stored without (absent in runs of older versions).
    warnings: NotRequired[int]
    # Records the source passed over on purpose (absent in runs of older versions).
    skipped: NotRequired[int]


class RunProgress(TypedDict):
    pages: int
    bytes: int
    records_per_s: float
    estimated_total: int | None


class RunError(TypedDict):
    where: str
    message: str


class RunLease(TypedDict):
    owner: str
    expires_at: datetime
    # Set right after the claim (service.sync.runs._fence).
    fence: int | None


class NewRunDoc(TypedDict):
    """A run as service.sync.runs inserts it (PyMongo adds the `_id`)."""

    source_id: str
    mode: str
    trigger: str
    status: str
    # Present (and true) while the run is queued or running: one per source, by index.
    active: NotRequired[bool]
    created_at: datetime
    counts: RunCounts
    progress: RunProgress
    errors: list[RunError]
    cancel_requested: bool
    scheduled_for: NotRequired[datetime]
    priority: int
    started_at: NotRequired[datetime]
    heartbeat_at: NotRequired[datetime]
    # Held by a worker while running.
    lease: NotRequired[RunLease]
    attempts: NotRequired[int]
    checkpoints: NotRequired[int]
    finished_at: NotRequired[datetime]
    # Why the run did otherwise than asked ("full pass: the configuration changed").
    note: NotRequired[str]
    # A sample of the records the source passed over on purpose, and why.
    skipped: NotRequired[list[RunError]]


class RunDoc(NewRunDoc):
    _id: ObjectId


# -- API keys ------------------------------------------------------------------------------


class ApiKeyView(TypedDict):
    """A key's record as shown: everything but its hash."""

    _id: str
    role: str
    source_id: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyDoc(ApiKeyView):
    hash: str

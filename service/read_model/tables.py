"""The read model's tables: one SQLite file per database, the projection of its entities.

Each entity type has a main table (one row per entity: the stored document as BSON
for the resolvers, plus the columns filters, orders and look-ups use), a table of
its multi-valued filter fields (`field`, `value` pairs), and a table of its search
terms (the stems and transliteration skeletons of service.documents.search_text,
matched exactly: the ranking stays the one the service has always had). Nested
lists have their own link tables (an event's organizers, a standard's parties).
Merged-away entity ids have the `redirects` table (service.read_model.redirects).
SQLite's own B-tree indexes serve every query; there is no index structure of ours.

`FORMAT` changes whenever what is projected changes; a file of another format is
rebuilt from a snapshot (service.read_model.applier).
"""

from __future__ import annotations

FORMAT = "2026-12-02.3"

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS communities (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    doc BLOB NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    members_key TEXT NOT NULL UNIQUE,
    founded_key TEXT NOT NULL UNIQUE,
    updated_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    form TEXT NOT NULL,
    formality TEXT NOT NULL,
    status TEXT NOT NULL,
    city_key TEXT,
    founded_year INTEGER
);
CREATE INDEX IF NOT EXISTS communities_city ON communities (city_key);
-- Facet counts read these columns for many ids without touching the documents.
CREATE INDEX IF NOT EXISTS communities_facets ON communities (id, kind, form);
CREATE INDEX IF NOT EXISTS communities_founded ON communities (founded_year);

CREATE TABLE IF NOT EXISTS community_values (
    field TEXT NOT NULL, value TEXT NOT NULL, id TEXT NOT NULL,
    PRIMARY KEY (field, value, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS community_values_of ON community_values (id, field);

CREATE TABLE IF NOT EXISTS community_terms (
    term TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (term, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS community_terms_of ON community_terms (id);

CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    doc BLOB NOT NULL,
    start_key TEXT NOT NULL UNIQUE,
    starts_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    format TEXT NOT NULL,
    attendance_mode TEXT NOT NULL,
    city_key TEXT,
    country TEXT,
    month TEXT NOT NULL,
    lat REAL,
    lon REAL
);
CREATE INDEX IF NOT EXISTS events_starts ON events (starts_at);
CREATE INDEX IF NOT EXISTS events_city ON events (city_key);
CREATE INDEX IF NOT EXISTS events_country ON events (country);
CREATE INDEX IF NOT EXISTS events_lat ON events (lat);
CREATE INDEX IF NOT EXISTS events_facets ON events (id, format, attendance_mode, month);

CREATE TABLE IF NOT EXISTS event_organizers (
    community_id TEXT NOT NULL, event_id TEXT NOT NULL,
    PRIMARY KEY (community_id, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_organizers_of ON event_organizers (event_id);

CREATE TABLE IF NOT EXISTS event_terms (
    term TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (term, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_terms_of ON event_terms (id);

CREATE TABLE IF NOT EXISTS standards (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    doc BLOB NOT NULL,
    code_order TEXT NOT NULL UNIQUE,
    code_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    issuer TEXT
);
CREATE INDEX IF NOT EXISTS standards_code ON standards (code_key);
CREATE INDEX IF NOT EXISTS standards_issuer ON standards (issuer);

CREATE TABLE IF NOT EXISTS standard_values (
    field TEXT NOT NULL, value TEXT NOT NULL, id TEXT NOT NULL,
    PRIMARY KEY (field, value, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS standard_values_of ON standard_values (id, field);

CREATE TABLE IF NOT EXISTS standard_terms (
    term TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (term, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS standard_terms_of ON standard_terms (id);

-- Merged-away entity ids and the survivor each resolves to (service.read_model.redirects).
CREATE TABLE IF NOT EXISTS redirects (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, to_id TEXT NOT NULL
) WITHOUT ROWID;
"""

# Per entity type: its main table, its multi-valued fields' table, its terms table,
# and the link tables rows of it are kept in (as (table, column naming it)).
MAIN = {"communities": "communities", "events": "events", "standards": "standards"}
VALUES = {"communities": "community_values", "standards": "standard_values"}
TERMS = {
    "communities": "community_terms",
    "events": "event_terms",
    "standards": "standard_terms",
}
LINKS = {"events": (("event_organizers", "event_id"),)}

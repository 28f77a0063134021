"""The read model: a local SQLite projection of the entities, fed by MongoDB change
streams, that serves every public read of this host (see docs/architecture.md)."""

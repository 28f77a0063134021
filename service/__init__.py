"""guildgraph service: settings, app, storage, ingestion, CLI."""

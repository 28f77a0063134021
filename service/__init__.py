"""guildgraph service: how it runs. One sub-package per job; see docs/architecture.md."""

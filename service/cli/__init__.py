"""The `guildgraph` command, one module per command group."""

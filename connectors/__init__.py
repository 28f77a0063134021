"""Connectors: how data comes in. Never touches the database."""

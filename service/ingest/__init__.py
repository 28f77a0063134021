"""Ingestion: listings in, entities with provenance out (validation, matching, apply,
references, withdrawal, memberships).
"""

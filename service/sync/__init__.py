"""Sync: sources, runs under leases, the engine that drives connectors into ingestion, workers,
schedules and the fetch policy.
"""

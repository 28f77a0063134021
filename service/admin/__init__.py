"""The admin port: sources, runs, rejected listings and keys, for admin callers only."""

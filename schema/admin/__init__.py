"""The admin side of the contract: sources, runs, rejected listings and API keys.

Every field here is for admin keys only; `root` composes the admin query and
mutation classes that schema.root adds to the schema.
"""

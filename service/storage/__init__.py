"""Storage: opening the database (external MongoDB or the embedded server), collections,
validators, indexes and the stored documents' types.
"""

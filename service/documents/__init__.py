"""Documents: a validated payload becomes stored entity fields (normalization, sort keys,
filter and search terms, match keys).
"""

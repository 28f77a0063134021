"""Documents: a validated payload becomes stored entity fields (normalization, slugs,
match keys; the search text the read model indexes).
"""

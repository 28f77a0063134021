"""The read side: the data access the GraphQL resolvers call (filters, keyset pages, search,
facets, DataLoaders).
"""

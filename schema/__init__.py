"""The GraphQL contract: taxonomy, payload models, the GraphQL types and the ports
resolvers call. The composition root is `schema.root`; importing this package
builds nothing."""

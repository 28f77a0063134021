"""The ports: what resolvers call, implemented per request by `service/`.

One module per port (`reads`, `partner`, `admin`, `live`), each with the plain
values it exchanges. No module here imports `Info`, so `schema.context` imports
them at run time and the GraphQL modules import the context without a cycle.
"""

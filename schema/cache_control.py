"""Cache hints in the schema: Apollo's `@cacheControl(maxAge:, scope:)` directive.

A hint on a field or on a type says how long a response that selects it may be kept
(`maxAge`, seconds) and by whom (`scope`: PRIVATE keeps it out of shared caches). The
service reads the hints from the built schema (service.api.cache_policy) and gives a
response the smallest `maxAge` and the narrowest `scope` of everything it selects;
fields without a hint take their parent's, root fields the service's default. The
directive is printed in the SDL, with Apollo's definition, so clients and gateways
see the same hints.
"""

from __future__ import annotations

import strawberry
from strawberry.schema_directive import Location

from schema.enums import CacheControlScope


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION, Location.OBJECT, Location.INTERFACE, Location.UNION],
    name="cacheControl",
    description="How long a response selecting this may be cached, and by whom",
)
class CacheControl:
    max_age: int | None = strawberry.UNSET
    scope: CacheControlScope | None = strawberry.UNSET
    inherit_max_age: bool | None = strawberry.UNSET


# Admin answers are the caller's own: never kept by a shared cache, nor by the service.
ADMIN_ONLY = CacheControl(max_age=0, scope=CacheControlScope.PRIVATE)
# The industry vocabulary is part of the code: it changes only with a deployment.
VOCABULARY = CacheControl(max_age=3600)

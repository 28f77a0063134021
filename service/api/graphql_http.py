"""GraphQL over HTTP (POST and GET), following the GraphQL-over-HTTP specification.

Strawberry's own view decodes bodies inside its JSON handling (invalid UTF-8
becomes a 500) and has no size limit, so requests are parsed here and only
well-formed ones reach `schema.execute`.

The path of a request: parse it (graphql_request), find its document (persisted
queries), admit the caller (auth: the key, the rate limits), then, for an anonymous
query any cache may keep (cache_policy), answer from the response cache when it can
(response_cache) — before any execution and without a database round trip — or
execute and keep the answer. Every answer gets its HTTP caching headers (http_caching).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Mapping
from typing import Any

import orjson
import pymongo
import strawberry
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from schema.context import Context
from schema.principal import ANONYMOUS, Principal
from schema.taxonomy import Lang
from service.api import http_caching
from service.api.cache_policy import CachePolicies, CachePolicy
from service.api.change_versions import ChangeVersions
from service.api.graphql_request import (
    GraphQLRequest,
    decode_json_body,
    header_values,
    parse_get,
    parse_params,
    read_body,
)
from service.api.http_errors import RequestError, error_response
from service.api.metrics import IN_REQUEST, Metrics
from service.api.negotiation import GRAPHQL_RESPONSE, JSON, preferred_language, response_media_type
from service.api.persisted_queries import Document, PersistedQueries
from service.api.read_gate import ReadGate
from service.api.request_context import Services
from service.api.response_cache import Answer, ResponseCache, cache_key
from service.api.safety_net import request_id_of
from service.api.unavailable import (
    is_unavailable,
    is_unavailable_result,
    log_unavailable,
    unavailable,
)
from service.auth.keys import Unauthenticated, authenticate, key_secret
from service.auth.rate_limits import Limits, RateLimiter
from service.settings import ReadConsistency

logger = logging.getLogger("guildgraph.http")


class GraphQLEndpoint:
    """The `/graphql` HTTP handler."""

    def __init__(
        self,
        schema: strawberry.federation.Schema,
        services: Services,
        *,
        metrics: Metrics,
        default_lang: Lang = Lang.RU,
    ) -> None:
        settings = services.settings
        self._metrics = metrics
        self._schema = schema
        self._services = services
        self._max_body_bytes = settings.max_body_bytes
        self._graphiql_html = (
            get_graphql_ide_html("graphiql") if settings.graphiql_enabled else None
        )
        self._default_lang = default_lang
        self._secret = key_secret(settings)
        self._db_timeout_s = settings.db_timeout_s
        self.limiter = RateLimiter(
            services.database,
            Limits(
                settings.rate_limit_window_s,
                settings.rate_limit_per_key,
                settings.rate_limit_per_address,
                flush_s=settings.rate_limit_flush_s,
                flush_requests=settings.rate_limit_flush_requests,
            ),
            db_timeout_s=settings.db_timeout_s,
        )
        self.persisted = PersistedQueries.from_settings(settings, schema._schema)
        self._policies = CachePolicies(
            schema._schema, settings.cache_max_age_s, settings.max_tokens
        )
        self._stale_while_revalidate = settings.cache_stale_while_revalidate_s
        # Strong consistency, or no staleness allowed: an answer is served only when made
        # at the versions read just before (one small SQLite read per request).
        self._exact = (
            settings.read_consistency is ReadConsistency.STRONG or settings.cache_max_stale_s == 0
        )
        self.versions = ChangeVersions(
            lambda: services.read_model().readers.connection(),
            horizon_s=settings.cache_max_stale_s,
        )
        self._public_reads = ReadGate(settings.public_read_concurrency, metrics.public_reads)
        self.cache = ResponseCache(
            settings.cache_bytes,
            self.versions,
            max_stale_s=settings.cache_max_stale_s,
            ttl_s=settings.cache_ttl_s,
            stats=metrics.response_cache,
        )

    async def run(self) -> None:
        """What the endpoint keeps doing in the background while the app runs: reading
        the read model's change versions and sharing rate-limit counts."""
        async with asyncio.TaskGroup() as tasks:
            if self.cache.enabled:
                tasks.create_task(self.versions.run())
            tasks.create_task(self.limiter.run())

    async def close(self) -> None:
        """At shutdown: stop refreshing answers, share the last rate-limit counts."""
        await self.cache.close()
        await self.limiter.close()

    async def before_request(self) -> None:
        """What every operation waits for before it reads (see Services.before_request)."""
        await self._services.before_request()

    def context(
        self, principal: Principal, request_id: str, accept_language: str | None
    ) -> Context:
        lang = preferred_language(accept_language, self._default_lang)
        return self._services.context(principal, request_id, lang)

    async def admit(self, authorization: str | None, client: str) -> Principal:
        """The caller behind the headers, counted against its rate limits.

        Raises RequestError 401 for a bad key and 429 (with Retry-After) over a limit; a
        bad key counts as a request of its address, so guessing keys is rate limited too.
        The database work is bounded by `db_timeout_s` (a PyMongo timeout error after it).
        """
        if not authorization and self.limiter.batched:
            # No key and counts kept locally: nothing here waits for the database.
            return await self._admit_anonymous(client)
        db = self._services.database()
        with pymongo.timeout(self._db_timeout_s):
            try:
                principal = await authenticate(db, self._secret, authorization, client)
            except Unauthenticated as error:
                wait = await self.retry_after(Principal(ANONYMOUS.role, client=client))
                if wait is not None:
                    raise _over_limit(wait) from None
                raise RequestError(401, str(error), {"WWW-Authenticate": "Bearer"}) from None
            wait = await self.retry_after(principal)
        if wait is not None:
            raise _over_limit(wait)
        return principal

    async def _admit_anonymous(self, client: str) -> Principal:
        principal = Principal(ANONYMOUS.role, client=client)
        wait = await self.retry_after(principal)
        if wait is not None:
            raise _over_limit(wait)
        return principal

    async def retry_after(self, principal: Principal) -> int | None:
        """Count one request of `principal`; seconds to wait when over a limit, else None.

        HTTP requests, WebSocket connections and each operation sent over a WebSocket
        all count, so a socket is no way around the limits.
        """
        if not self.limiter.enabled:
            return None
        return await self.limiter.retry_after(principal)

    async def handle(self, request: Request) -> Response:
        in_request = IN_REQUEST.set(True)
        try:
            response = await self._respond(request)
        finally:
            IN_REQUEST.reset(in_request)
        self._metrics.request_done(response.status_code)
        return response

    async def _respond(self, request: Request) -> Response:
        request_id = request_id_of(request.scope)
        headers = header_values(request.scope)
        if (
            request.method == "GET"
            and self._graphiql_html is not None
            and "text/html" in headers.get("accept", "")
            and "query" not in request.query_params
            and "extensions" not in request.query_params
        ):
            return HTMLResponse(self._graphiql_html)
        media_type = JSON
        try:
            media_type = response_media_type(headers.get("accept"))
            return await self._handle(request, headers, media_type, request_id)
        except RequestError as error:
            return error_response(error, media_type, request_id)
        except PyMongoError as error:  # from admission: authentication, rate limits
            if not is_unavailable(error):
                raise
            log_unavailable(request_id, error)
            return error_response(unavailable(), media_type, request_id)

    async def _handle(
        self, request: Request, headers: Mapping[str, str], media_type: str, request_id: str
    ) -> Response:
        if request.method == "POST":
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != JSON:
                raise RequestError(415, f"Content-Type must be {JSON}")
            body = await read_body(request, headers, self._max_body_bytes)
            params = parse_params(decode_json_body(body))
            allowed = frozenset({OperationType.QUERY, OperationType.MUTATION})
        elif request.method == "GET":
            params = parse_get(request)
            allowed = frozenset({OperationType.QUERY})
        else:
            raise RequestError(405, "use GET or POST", {"Allow": "GET, POST"})
        document = self.persisted.resolve(params.query, params.extensions)
        if document is None or not document.query:
            raise RequestError(400, "'query' is required")

        client = request.client.host if request.client else "-"
        principal = await self.admit(headers.get("authorization"), client)
        await self.before_request()
        lang = preferred_language(headers.get("accept-language"), self._default_lang)
        policy = self._shared_policy(principal, document, params.operation_name)
        run = functools.partial(
            self._execute, document, params, allowed, principal, lang, media_type, request_id
        )
        if policy is None:
            return self._response(await run(None), None, request_id, headers)
        if self._exact:
            self.versions.poll()  # one SQLite read: the versions as of now
        key = cache_key(document.sha256, params.operation_name, params.variables, lang, media_type)
        if http_caching.wants_fresh(headers.get("cache-control"), headers.get("pragma")):
            answer = await run(policy)
            self.cache.store(key, answer)
            return self._response(answer, None, request_id, headers)
        hit = self.cache.lookup(key, exact=self._exact)
        if hit is not None:
            if hit.refresh:
                refresh = functools.partial(
                    self._execute, document, params, allowed, principal, lang, media_type,
                    f"{request_id}-refresh", policy,
                )  # fmt: skip
                self.cache.refresh(key, refresh)
            return self._response(hit.answer, hit.max_age, request_id, headers)
        answer = await self.cache.make(key, functools.partial(run, policy))
        return self._response(answer, None, request_id, headers)

    def _shared_policy(
        self, principal: Principal, document: Document, operation_name: str | None
    ) -> CachePolicy | None:
        """The document's cache policy when its answer to this caller may be shared:
        an anonymous query that selects nothing private. Else None (private, no-store)."""
        if principal.role is not ANONYMOUS.role:
            return None
        policy = self._policies.policy(document.sha256, document.query, operation_name)
        return policy if policy is not None and policy.shared else None

    async def _execute(
        self,
        document: Document,
        params: GraphQLRequest,
        allowed: frozenset[OperationType],
        principal: Principal,
        lang: Lang,
        media_type: str,
        request_id: str,
        policy: CachePolicy | None,
    ) -> Answer:
        # Taken before anything is read: the answer reflects at least these versions.
        versions = self.versions.snapshot(policy.collections) if policy is not None else {}
        made_at = self.cache.clock()
        context = self._services.context(principal, request_id, lang)
        # A shareable answer is a public read: it takes a slot (service.api.read_gate);
        # a request with a key goes first; other anonymous ones neither wait nor hold.
        gate: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
        if policy is not None:
            gate = self._public_reads.slot()
        elif principal.role is not ANONYMOUS.role:
            gate = self._public_reads.write()
        try:
            async with gate:
                result = await self._schema.execute(
                    document.query,
                    variable_values=params.variables,
                    context_value=context,
                    operation_name=params.operation_name,
                    allowed_operation_types=allowed,
                )
        except InvalidOperationTypeError:
            raise RequestError(
                405, "only queries may be sent with GET; use POST", {"Allow": "POST"}
            ) from None
        except MissingQueryError:
            raise RequestError(400, "'query' is required") from None

        payload: dict[str, Any] = {}
        errors = result.errors or []
        if is_unavailable_result(errors):  # a resolver's database did not answer
            raise unavailable()
        if errors:
            payload["errors"] = [error.formatted for error in errors]
        # Field errors carry a path; errors without one (syntax, validation, variable
        # coercion) stopped the request before execution, so there is no "data".
        executed = result.data is not None or not errors or any(e.path for e in errors)
        if executed:
            payload["data"] = result.data
        # application/json: 200 for every well-formed request. graphql-response+json:
        # a request that never reached execution is a 400.
        status = 400 if media_type == GRAPHQL_RESPONSE and not executed else 200
        body = orjson.dumps(payload)
        shared = policy is not None and not errors
        return Answer(
            body=body,
            status=status,
            media_type=media_type,
            shared=shared,
            max_age=policy.max_age if policy is not None and shared else 0,
            etag=http_caching.etag(body, media_type) if shared else None,
            versions=versions,
            made_at=made_at,
        )

    def _response(
        self, answer: Answer, max_age: int | None, request_id: str, request: Mapping[str, str]
    ) -> Response:
        """`answer` with its caching headers; 304 without a body when the client holds
        it (If-None-Match). `max_age` overrides the answer's (a cached one may be
        out of date by a part of it)."""
        headers = {"X-Request-ID": request_id, "Vary": http_caching.VARY}
        if answer.shared and answer.etag is not None:
            age = answer.max_age if max_age is None else max_age
            headers["Cache-Control"] = http_caching.public(age, self._stale_while_revalidate)
            headers["ETag"] = answer.etag
            if http_caching.not_modified(request.get("if-none-match"), answer.etag):
                return Response(status_code=304, headers=headers)
        else:
            headers["Cache-Control"] = http_caching.NO_STORE
        return Response(
            answer.body, status_code=answer.status, media_type=answer.media_type, headers=headers
        )


def _over_limit(wait: int) -> RequestError:
    return RequestError(429, f"rate limit exceeded; retry in {wait} s", {"Retry-After": str(wait)})

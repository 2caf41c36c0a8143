"""``create_app(settings)``: the Starlette application with its routes, middleware and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from cross_web import HTTPException as ViewHTTPException
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.config import BatchingConfig, StrawberryConfig
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from tortoise import connections
from tortoise.contrib.starlette import RegisterTortoise

from staffgraph.auth.oauth.routes import oauth_routes
from staffgraph.auth.tokens import TokenError
from staffgraph.configuration import load_configuration
from staffgraph.context import Context, Viewer
from staffgraph.db import DatabaseUnavailable, tortoise_config
from staffgraph.errors import RETRY_AFTER_SECONDS, ApiError
from staffgraph.http.body_limit import MAX_BODY_BYTES, BodyLimit
from staffgraph.http.client_address import client_address
from staffgraph.http.concurrency import ConcurrencyLimit
from staffgraph.http.cors import cors_middleware
from staffgraph.http.edge import Edge
from staffgraph.http.graphiql import graphiql_response, page_config
from staffgraph.http.graphiql_assets import asset_routes
from staffgraph.http.media_types import (
    as_graphql_response,
    is_request_error,
    wants_graphql_response,
)
from staffgraph.http.refusals import batch_problem, refuse_graphql_request
from staffgraph.http.responses import graphql_error_response, http_exception_handler
from staffgraph.loaders import Loaders
from staffgraph.logging_setup import configure_logging
from staffgraph.observability.instrument import instrument
from staffgraph.ratelimits.operation_limits import (
    BatchRateLimited,
    RateLimitedTransportWSHandler,
    count_batch,
)
from staffgraph.ratelimits.request_limits import RateLimit, RequestRateLimiter
from staffgraph.schema import build_schema
from staffgraph.schema.planned import execute_planned, plan_for
from staffgraph.schema.security import finalize_errors, hides_schema, is_service_unavailable
from staffgraph.services import Services
from staffgraph.settings import Settings

log = logging.getLogger("staffgraph")

READY_TIMEOUT_SECONDS = 2.0
#: the members of a request body that :meth:`StaffGraphView.answer_planned` may answer
_PLAIN_REQUEST = frozenset({"query", "variables", "operationName", "extensions"})


def authenticate(services: Services, authorization: str | None) -> tuple[Viewer | None, str | None]:
    """The viewer behind an ``Authorization`` header value, or why it was refused."""
    if not authorization:
        return None, None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None, "invalid_token"
    try:
        claims = services.tokens.verify(token)
    except TokenError as exc:
        return None, exc.reason
    if services.revocations.is_revoked(claims.session_id):
        return None, "token_revoked"
    viewer = Viewer(
        claims.user_id, claims.session_id, claims.roles, claims.token_id, claims.expires_at
    )
    return viewer, None


class StaffGraphView(GraphQL[Context, None]):
    """The GraphQL endpoint: builds the request context, verifying the token once."""

    graphql_transport_ws_handler_class = RateLimitedTransportWSHandler

    def __init__(self, services: Services, **kwargs: Any) -> None:
        self.services = services
        settings = services.settings
        #: ``RATE_LIMIT``, in the counters of the sign-in limits (one store, one breaker)
        self.limiter = RequestRateLimiter(settings.request_rate, services.login_limiter.store)
        batching = (
            BatchingConfig(max_operations=settings.max_operations) if settings.batching else None
        )
        #: the schema, typed as staffgraph's own (strawberry's view knows a BaseSchema)
        self.staff_schema = build_schema(config=StrawberryConfig(batching_config=batching))
        super().__init__(
            self.staff_schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=False,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            allowed_origins=settings.cors_origins,
            # counts every operation in flight on a connection, subscriptions and queries alike
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            **kwargs,
        )
        if self.staff_schema.documents is not None:
            self.staff_schema.documents.pin(services.documents.trusted_texts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            try:
                await super().__call__(scope, receive, send)
            finally:
                socket = scope.get("state", {}).get("socket")
                if socket is not None:  # the connection is over: its session is not watched
                    self.services.sockets.close(socket)
            return
        request = Request(scope=scope, receive=receive)
        response = refuse_graphql_request(request, graphiql=self.graphql_ide is not None)
        if response is None:
            try:
                # only a POST carries an operation (a GET that got here asks for GraphiQL)
                response = await self.answer_planned(request) if request.method == "POST" else None
                if response is None:
                    response = await self.run(request)
            except (ViewHTTPException, StarletteHTTPException) as exc:
                status = exc.status_code
                reason = exc.reason if isinstance(exc, ViewHTTPException) else exc.detail
                response = request_error(status, reason)  # methods were refused above
            except BatchRateLimited as exc:
                response = graphql_error_response(
                    429,
                    "RATE_LIMITED",
                    "Too many requests; try again later",
                    headers={"Retry-After": str(exc.retry_after)},
                    retryAfter=exc.retry_after,
                )
            except ApiError as exc:  # the request's persisted document could not be had
                request.scope.setdefault("state", {})["graphql_request_error"] = True
                response = JSONResponse({"errors": [exc.formatted]})
        if response.media_type != "text/html" and wants_graphql_response(
            request.headers.get("accept")
        ):
            failed = request.scope.get("state", {}).pop("graphql_request_error", False)
            response = as_graphql_response(response, failed)
        await response(scope, receive, send)

    async def answer_planned(self, request: Request) -> Response | None:
        """The response to a plain POST of a known query that its compiled plan answers, or
        None: the request then goes through strawberry's view as every other one.

        Plain: a JSON object of ``query``, maybe ``variables`` and ``operationName``, no
        ``extensions`` (persisted documents resolve on the view's path). The very steps of the
        view run on it (context, result processing, response), without its request parsing
        and dispatch, which cost about a tenth of ``me``.
        """
        schema = self.staff_schema
        if schema.plans is None:
            return None
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None  # the view answers it (json reads some bodies orjson refuses)
        if type(data) is not dict or not data.keys() <= _PLAIN_REQUEST or data.get("extensions"):
            return None
        query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
        if (
            type(query) is not str
            or not isinstance(variables, dict | None)
            or not isinstance(name, str | None)
        ):
            return None
        if schema.documents is None or schema.documents.get(query) is None:
            return None  # not known yet: no context is made here for the view to make again
        if schema.plans.declined(query, name):
            return None  # a mutation, say: the same
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        planned = plan_for(schema, query, variables, context, name, None)
        if planned is None:
            return None
        plan, coerced = planned
        result = await execute_planned(schema, plan, coerced, context, None)
        if result is None:
            return None
        return self.create_response(await self.process_result(request, result), sub_response)

    async def execute_operation(
        self, request: Request, request_adapter: Any, request_data: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if isinstance(request_data, list):
            # every operation of a batch spends the budget, not just the request
            state = request.scope.setdefault("state", {})
            await count_batch(self.limiter, state, len(request_data))
        return await super().execute_operation(
            request, request_adapter, request_data, *args, **kwargs
        )

    def encode_json(self, data: object) -> str:
        # orjson: a page of users encodes some 8x faster than with the json module (the same
        # JSON; non-ASCII as UTF-8 rather than escapes). Always text: strawberry sends bytes
        # over a WebSocket as binary frames, which graphql-transport-ws clients refuse. A
        # string orjson refuses (a lone surrogate read from the database) goes through the
        # json module, escaped.
        try:
            return orjson.dumps(data).decode()
        except (orjson.JSONEncodeError, TypeError):
            return json.dumps(data, separators=(",", ":"))

    def decode_json(self, data: str | bytes) -> object:
        try:
            decoded = json.loads(data)
        except (UnicodeDecodeError, RecursionError, ValueError):
            raise ViewHTTPException(400, "The request body is not valid JSON") from None
        if isinstance(decoded, list) and self.services.settings.batching:
            problem = batch_problem(decoded, self.services.settings.max_operations)
            if problem:
                raise ViewHTTPException(400, problem)
        elif not isinstance(decoded, dict):
            # a list (batching off), null, number or string is not a GraphQL request
            raise ViewHTTPException(400, "The request body must be a JSON object")
        for item in decoded if isinstance(decoded, list) else [decoded]:
            if "documentId" in item:
                # GraphQL over HTTP names a trusted document at the top level; from here on it
                # travels with the extensions, where strawberry passes it along
                extensions = item.get("extensions")
                if not isinstance(extensions, dict | None):
                    raise ViewHTTPException(400, "`extensions` must be an object")
                item["extensions"] = {**(extensions or {}), "documentId": item.pop("documentId")}
        return decoded

    async def parse_http_body(self, request: Any) -> Any:
        """The request's operations, each with the text of its persisted or trusted document."""
        parsed = await super().parse_http_body(request)
        documents = self.services.documents
        for item in parsed if isinstance(parsed, list) else [parsed]:
            item.query = await documents.resolve(item.query, item.extensions)
        return parsed

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_response(page_config(self.services.settings.oauth_providers))

    async def process_result(self, request: Request, result: Any) -> Any:
        request_id = request.scope.get("state", {}).get("request_id", "")
        finalize_errors(result.errors, request_id, hides_schema(self.services.settings))
        if any(is_service_unavailable(error) for error in result.errors or ()):
            # a partial answer would pass for the truth (``me: null``): the whole request
            # fails with 503 instead (see staffgraph.http.unhandled)
            raise DatabaseUnavailable("the database did not answer")
        if is_request_error(result):
            # for GraphQL over HTTP's status codes: this request never reached execution
            request.scope.setdefault("state", {})["graphql_request_error"] = True
        return await super().process_result(request, result)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        settings = self.services.settings
        peer = request.client.host if request.client else None
        viewer, auth_error = (None, None)
        state = request.scope.get("state", {})
        if isinstance(request, Request):
            if "viewer" in state:  # the RateLimit middleware verified the token already
                viewer, auth_error = state["viewer"], state.get("auth_error")
            else:
                viewer, auth_error = authenticate(
                    self.services, request.headers.get("authorization")
                )
        client_ip = state.get("client_ip") or client_address(
            peer, request.headers.get("x-forwarded-for"), settings.trusted_networks
        )
        return Context(
            services=self.services,
            loaders=Loaders(),
            viewer=viewer,
            auth_error=auth_error,
            client_ip=client_ip,
            user_agent=request.headers.get("user-agent"),
            request_id=request.scope.get("state", {}).get("request_id", ""),
            request=request,
            response=response,
        )

    async def on_ws_connect(self, context: Context) -> Any:
        # graphql-transport-ws: the token travels in the connection_init payload; none (or an
        # empty one) is an anonymous connection, a refused one closes the socket with 4403
        params = getattr(context, "connection_params", None) or {}
        authorization = params.get("authorization") if isinstance(params, dict) else None
        if authorization:
            context.viewer, context.auth_error = authenticate(self.services, str(authorization))
            if context.viewer is None:
                raise ConnectionRejectionError()
        # its subscriptions end with its session: revoked anywhere, or its token expired
        context.socket = self.services.sockets.open(context)
        context.request.scope.setdefault("state", {})["socket"] = context.socket
        return None


def request_error(status: int, message: str) -> JSONResponse:
    """A GraphQL-shaped error for a request refused before execution."""
    return JSONResponse(
        {
            "data": None,
            "errors": [
                {
                    "message": message,
                    "extensions": {"code": "BAD_USER_INPUT", "field": "body", "status": status},
                }
            ],
        },
        status_code=status,
    )


async def healthz(request: Request) -> Response:
    """200 while the process lives."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when the database answers, else 503; Redis is reported (``degraded`` when it does
    not answer) but does not fail readiness: every feature keeps working without it."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await connections.get("default").execute_query("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # any failure means not ready; the reason goes to the log
        log.warning("readiness: database did not answer", exc_info=True)
        checks["database"] = "unavailable"
    redis_ready = await request.app.state.services.redis_ready()
    if redis_ready is not None:
        checks["redis"] = "ok" if redis_ready else "degraded"
    ready = checks["database"] == "ok"
    headers = None if ready else {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers=headers,
    )


async def jwks(request: Request) -> Response:
    """The public keys that verify access tokens; an empty set when they are HS256-signed."""
    return JSONResponse(
        request.app.state.services.tokens.jwks(),
        media_type="application/jwk-set+json",
        headers={"Cache-Control": "public, max-age=300"},
    )


def schema_endpoint(sdl: str, policy: str) -> Callable[[Request], Awaitable[Response]]:
    """``GET /graphql/schema.graphql``: the SDL with every ``@requires``, which introspection
    cannot carry, under the introspection policy (``off``: 404; ``authenticated``: 401 without
    a valid token)."""

    async def schema_sdl(request: Request) -> Response:
        if policy == "off":
            return graphql_error_response(404, "NOT_FOUND", "Not Found")
        if policy == "authenticated" and request.scope.get("state", {}).get("viewer") is None:
            reason = request.scope.get("state", {}).get("auth_error") or "no_token"
            return graphql_error_response(
                401, "UNAUTHENTICATED", "Authentication required", reason=reason
            )
        return PlainTextResponse(sdl, headers={"Cache-Control": "no-cache"})

    return schema_sdl


#: the collector's thresholds in a serving process, instead of Python's (700, 10, 10). A request
#: allocates thousands of objects that its end frees (a page: some 200 answers, 50 rows and
#: their values); with a young collection every 700 of them, each collection walks what the
#: requests in progress still hold, and promotes it for older collections to walk again.
#: Collecting young objects every 50,000 allocations, the middle generation every 20 young
#: collections and the oldest every 100 of those cost 7% less CPU for ``me`` and 5-16% less for
#: the 50-user page (bench/README.md, "Shared answers, `me` read at once, the collector").
COLLECTOR_THRESHOLDS = (50_000, 20, 100)


def create_app(settings: Settings | None = None, *, manage_orm: bool = True) -> Starlette:
    """The staffgraph ASGI app.

    ``manage_orm=False`` leaves Tortoise to the caller (the tests own the database).
    """
    settings = settings or load_configuration()
    services = Services.build(settings)
    view = StaffGraphView(services)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if manage_orm:
                await stack.enter_async_context(
                    RegisterTortoise(
                        app,
                        config=tortoise_config(settings.database_url, settings.database_timeout),
                    )
                )
            await services.start()
            stack.push_async_callback(services.stop)
            if manage_orm:
                # a serving process: what exists now (schema, modules) lives as long as it, so
                # keep it out of the collector's way; full collections then scan only what
                # requests allocate (pauses of 35-70 ms -> a few ms, see bench/README.md)
                gc.collect()
                gc.freeze()
                gc.set_threshold(*COLLECTOR_THRESHOLDS)
            yield

    app = Starlette(
        routes=[
            Route("/graphql", view),  # the view answers 405 itself, with its Allow
            Route(
                "/graphql/schema.graphql",
                schema_endpoint(view.schema.as_str() + "\n", settings.introspection or "off"),
                methods=["GET"],
            ),
            WebSocketRoute("/graphql", view),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *oauth_routes(services),
            Route("/.well-known/jwks.json", jwks, methods=["GET"]),
            *(asset_routes() if settings.graphiql else []),
        ],
        middleware=[
            # outermost: a refusal under overload must cost as little as possible
            Middleware(ConcurrencyLimit, limit=settings.max_concurrency),
            # request id and security headers, trace context, access line, metrics, last net
            Middleware(
                Edge, trusted=settings.trusted_networks, metrics_token=settings.metrics_token
            ),
            *cors_middleware(settings.cors_origins, settings.cors_allow_headers),
            Middleware(BodyLimit, max_bytes=MAX_BODY_BYTES),
            Middleware(
                RateLimit,
                limiter=view.limiter,
                authenticate=functools.partial(authenticate, services),
                trusted=settings.trusted_networks,
            ),
        ],
        exception_handlers={StarletteHTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.services = services
    instrument(app)  # OpenTelemetry, when an OTLP endpoint is configured
    return app


def create_app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` (used by ``staffgraph serve --workers N``)."""
    settings = load_configuration()
    configure_logging(settings)  # each worker process sets up its own logging
    return create_app(settings)

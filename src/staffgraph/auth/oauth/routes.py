"""``GET /auth/oauth/{provider}/authorize`` and ``.../callback`` (API.md §2).

Every outcome is a redirect or a 4xx, never a 500 and never a token in a URL: success sends the
browser to its ``redirect_to`` with a one-time ``code``; a failure once ``redirect_to`` is known
(and allowed) sends it there with ``error=<code>``; earlier failures get a JSON 400/404.

The browser binding is a signed, HttpOnly, SameSite=Lax cookie scoped to ``/auth/oauth``
(Starlette's SessionMiddleware, keyed from the JWT secret or key), holding only a marker per
pending state; the state's data itself stays server-side (:mod:`staffgraph.auth.oauth.state`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from staffgraph.auth.oauth import errors as E
from staffgraph.auth.oauth.clients import ProviderClient, build_providers
from staffgraph.auth.oauth.config import OAuthConfig, load_oauth_config
from staffgraph.auth.oauth.errors import OAuthFailure
from staffgraph.auth.oauth.redirects import with_params
from staffgraph.auth.oauth.state import STATE_TTL_SECONDS, state_store
from staffgraph.context import Context
from staffgraph.http.client_address import client_address
from staffgraph.loaders import Loaders
from staffgraph.models import AuditAction
from staffgraph.resolvers import oauth
from staffgraph.resolvers.audit import record
from staffgraph.services import Services
from staffgraph.settings import Settings

log = logging.getLogger("staffgraph.oauth")

COOKIE_NAME = "staffgraph_oauth"
COOKIE_PATH = "/auth/oauth"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MESSAGES = {
    E.UNKNOWN_PROVIDER: "No OAuth provider of that name is configured",
    E.INVALID_REDIRECT: "redirect_to is missing or not an allowed frontend URL",
    E.INVALID_STATE: "The sign-in state is missing, expired, already used or not this browser's",
    E.INVALID_REQUEST: "Repeated query parameters",
    E.SERVER_ERROR: "The sign-in failed unexpectedly",
}

Handler = Callable[[Request], Awaitable[Response]]


class _Refused(Exception):
    """A failure answered with a JSON status, because there is nowhere safe to redirect."""

    def __init__(self, code: str, status: int = 400) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


class OAuthEndpoints:
    """The two endpoints, over the configured providers."""

    def __init__(self, config: OAuthConfig, providers: dict[str, ProviderClient]) -> None:
        self.config = config
        self.providers = providers

    async def authorize(self, request: Request) -> Response:
        """302 to the provider; the pending sign-in remembers ``redirect_to``."""
        provider = self._provider(request)
        redirect_to = _single(request, "redirect_to")
        if not self.config.redirects.allows(redirect_to):
            raise _Refused(E.INVALID_REDIRECT)
        assert redirect_to is not None
        request.state.oauth_redirect_to = redirect_to
        callback_url = self.config.callback_url(provider.name, str(request.base_url))
        try:
            url = await provider.start(request, callback_url, redirect_to)
        except OAuthFailure as failure:
            log.warning("oauth %s: cannot start a sign-in: %s", provider.name, failure)
            return _redirect(redirect_to, {"error": failure.code})
        return _redirect(url, {})

    async def callback(self, request: Request) -> Response:
        """Consume the state, exchange the code, and 302 to ``redirect_to`` with a login code."""
        provider = self._provider(request)
        params = request.query_params
        if any(len(params.getlist(key)) > 1 for key in params):
            raise _Refused(E.INVALID_REQUEST)
        state = params.get("state")
        pending = await provider.pending(request, state) if state else None
        if pending is None or not self.config.redirects.allows(pending.redirect_to):
            raise _Refused(E.INVALID_STATE)
        request.state.oauth_redirect_to = pending.redirect_to
        ctx = _context(request)
        try:
            identity = await provider.finish(params, pending)
            code = await oauth.sign_in(ctx, self.config, identity)
        except OAuthFailure as failure:
            log.info("oauth %s: sign-in refused: %s", provider.name, failure)
            if failure.user_id is not None:
                await record(
                    ctx,
                    AuditAction.LOGIN_FAILED,
                    actor_id=failure.user_id,
                    target_id=failure.user_id,
                    detail=f"oauth:{provider.name} {failure.code}",
                )
            return _redirect(pending.redirect_to, {"error": failure.code})
        return _redirect(pending.redirect_to, {"code": code})

    def _provider(self, request: Request) -> ProviderClient:
        provider = self.providers.get(str(request.path_params.get("provider", "")))
        if provider is None:
            raise _Refused(E.UNKNOWN_PROVIDER, 404)
        return provider


def oauth_routes(services: Services) -> list[Route]:
    """The OAuth routes for ``create_app``; raises SettingsError on unusable provider settings."""
    settings = services.settings
    config = load_oauth_config(settings)
    endpoints = OAuthEndpoints(config, build_providers(config, state_store(services.redis)))
    secure_cookie = urlsplit(config.public_url or "").scheme == "https"
    cookie = Middleware(
        SessionMiddleware,
        secret_key=_cookie_key(settings),
        session_cookie=COOKIE_NAME,
        max_age=STATE_TTL_SECONDS,
        path=COOKIE_PATH,
        same_site="lax",
        https_only=secure_cookie,
    )
    return [
        Route(
            "/auth/oauth/{provider}/authorize",
            _never_fails(endpoints.authorize),
            methods=["GET"],
            name="oauth_authorize",
            middleware=[cookie],
        ),
        Route(
            "/auth/oauth/{provider}/callback",
            _never_fails(endpoints.callback),
            methods=["GET"],
            name="oauth_callback",
            middleware=[cookie],
        ),
    ]


def _never_fails(handler: Handler) -> Handler:
    """Answer GET only; turn refusals into JSON 4xx, and anything unexpected into a logged
    ``server_error``."""

    async def endpoint(request: Request) -> Response:
        if request.method != "GET":
            # Starlette adds HEAD to GET routes; a prefetcher's HEAD must not spend the
            # one-time state of the sign-in the user is in the middle of
            refusal = _refusal(E.INVALID_REQUEST, 405)
            refusal.headers["Allow"] = "GET"
            return refusal
        try:
            return await handler(request)
        except _Refused as refused:
            return _refusal(refused.code, refused.status)
        except Exception:
            request_id = request.scope.get("state", {}).get("request_id", "")
            log.exception("oauth %s failed unexpectedly (request %s)", request.url.path, request_id)
            redirect_to = getattr(request.state, "oauth_redirect_to", None)
            if redirect_to:
                return _redirect(redirect_to, {"error": E.SERVER_ERROR})
            return _refusal(E.SERVER_ERROR, 400)

    return endpoint


def _context(request: Request) -> Context:
    """A request context for the audit trail (no viewer: nobody is signed in yet)."""
    services = request.app.state.services
    peer = request.client.host if request.client else None
    return Context(
        services=services,
        loaders=Loaders(),
        client_ip=client_address(
            peer, request.headers.get("x-forwarded-for"), services.settings.trusted_networks
        ),
        user_agent=request.headers.get("user-agent"),
        request_id=request.scope.get("state", {}).get("request_id", ""),
        request=request,
    )


def _single(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    return values[0] if len(values) == 1 else None


def _redirect(url: str, params: dict[str, str]) -> Response:
    return RedirectResponse(with_params(url, params) if params else url, 302, headers=_NO_STORE)


def _refusal(code: str, status: int) -> Response:
    return JSONResponse(
        {"error": code, "error_description": _MESSAGES.get(code, code)},
        status_code=status,
        headers=_NO_STORE,
    )


def _cookie_key(settings: Settings) -> str:
    """The state cookie's signing key, derived from the token signing secret (or key file)."""
    if settings.jwt_secret:
        material = settings.jwt_secret.encode()
    elif settings.jwt_private_key_file:
        material = Path(settings.jwt_private_key_file).read_bytes()
    else:  # pragma: no cover - settings refuse to load without either
        material = secrets.token_bytes(32)
    return hmac.new(material, b"staffgraph oauth state cookie", hashlib.sha256).hexdigest()

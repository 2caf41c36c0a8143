"""The relying-party side of each provider, on Authlib's Starlette client.

:class:`OidcProvider` discovers an OpenID provider from its issuer and validates the ID token
(JWKS signature, ``iss``, ``aud``, ``exp``, ``nonce``); :class:`GitHubProvider` signs in with
GitHub's OAuth 2 and reads the verified primary email from its API. Both start the
authorization code flow with PKCE S256 and a one-time ``state`` (stored by
:mod:`staffgraph.auth.oauth.state`), and turn every protocol or network failure into an
:class:`~staffgraph.auth.oauth.errors.OAuthFailure`.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import authlib.deprecate
import httpx
from joserfc.errors import JoseError
from starlette.requests import Request

from staffgraph.auth.oauth import errors as E
from staffgraph.auth.oauth.config import OAuthConfig, ProviderConfig
from staffgraph.auth.oauth.errors import OAuthFailure
from staffgraph.auth.oauth.state import STATE_TTL_SECONDS, StateStore

with warnings.catch_warnings():
    # Authlib 1.9 warns on import that it would rather use the httpx2 package than httpx (the
    # HTTP client this project already has); with httpx it behaves the same.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth, OAuthError

HTTP_TIMEOUT_SECONDS = 10.0
#: ID tokens must be signed with a published asymmetric key: never "none", never HMAC
ID_TOKEN_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
ID_TOKEN_LEEWAY_SECONDS = 60
#: how long discovered metadata is trusted before it is fetched again (keys rotate)
METADATA_TTL_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider says signed in; ``subject`` is stable, the email may change."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """What the authorize step stored under the state, read back (once) by the callback."""

    provider: str
    redirect_to: str
    redirect_uri: str
    code_verifier: str
    nonce: str | None


class ProviderClient:
    """One configured provider: starts sign-ins and turns callbacks into an :class:`Identity`."""

    def __init__(self, config: ProviderConfig, oauth: OAuth) -> None:
        self.config = config
        self.name = config.name
        self.app = oauth.create_client(config.name)
        self.app.framework.expires_in = STATE_TTL_SECONDS

    @property
    def issuer(self) -> str:
        """The issuer callbacks and tokens must name."""
        return self.config.issuer

    async def prepare(self) -> None:
        """Load whatever the provider must publish before a sign-in can start."""

    async def start(self, request: Request, callback_url: str, redirect_to: str) -> str:
        """The provider's authorization URL; the pending sign-in is stored under its state."""
        async with _provider_calls():
            await self.prepare()
            created = await self.app.create_authorization_url(callback_url)
        await self.app.save_authorize_data(
            request,
            state=created["state"],
            provider=self.name,
            redirect_to=redirect_to,
            redirect_uri=callback_url,
            code_verifier=created["code_verifier"],
            nonce=created.get("nonce"),
        )
        return str(created["url"])

    async def pending(self, request: Request, state: str) -> PendingSignIn | None:
        """Consume the pending sign-in of ``state``: None if unknown, spent, or foreign.

        Authlib reads the server-side data only when this browser's cookie holds the state's
        marker; a foreign callback returns here before anything is cleared, so it cannot
        cancel the sign-in of the browser that started it.
        """
        data = await self.app.framework.get_state_data(request.session, state)
        if data is None:
            return None
        await self.app.framework.clear_state_data(request.session, state)
        if not isinstance(data, dict) or data.get("provider") != self.name:
            return None
        try:
            return PendingSignIn(
                provider=data["provider"],
                redirect_to=data["redirect_to"],
                redirect_uri=data["redirect_uri"],
                code_verifier=data["code_verifier"],
                nonce=data.get("nonce"),
            )
        except KeyError:
            return None

    async def finish(self, params: Mapping[str, str], pending: PendingSignIn) -> Identity:
        """Check the callback parameters, exchange the code and say who signed in."""
        error = params.get("error")
        if error:
            raise OAuthFailure(
                E.ACCESS_DENIED if error == "access_denied" else E.PROVIDER_ERROR,
                f"provider said {error!r}",
            )
        async with _provider_calls():
            await self.prepare()
            issuer = params.get("iss")
            if issuer is not None and issuer != self.issuer:
                raise OAuthFailure(E.ISSUER_MISMATCH, f"callback iss {issuer!r}")
            if issuer is None and self.requires_iss_parameter():
                raise OAuthFailure(E.ISSUER_MISMATCH, "callback without iss")
            code = params.get("code")
            if not code:
                raise OAuthFailure(E.INVALID_REQUEST, "callback without code")
            try:
                token = await self.app.fetch_access_token(
                    redirect_uri=pending.redirect_uri,
                    code=code,
                    code_verifier=pending.code_verifier,
                )
            except OAuthError as exc:
                raise OAuthFailure(E.TOKEN_EXCHANGE_FAILED, str(exc)) from exc
            return await self.identify(token, pending)

    def requires_iss_parameter(self) -> bool:
        """Whether the provider promised an ``iss`` on every callback (RFC 9207)."""
        return False

    async def identify(self, token: dict[str, Any], pending: PendingSignIn) -> Identity:
        """The identity behind a fresh token response."""
        raise NotImplementedError


class OidcProvider(ProviderClient):
    """Any OpenID Connect provider, configured by discovery from its issuer."""

    _issuer: str | None = None

    @property
    def issuer(self) -> str:
        """The issuer exactly as the provider's metadata spells it."""
        return self._issuer or self.config.issuer

    async def prepare(self) -> None:
        """Fetch (or refresh) the discovery document and check that it belongs to the issuer."""
        metadata = self.app.server_metadata
        if metadata.get("_loaded_at", 0) > time.time() - METADATA_TTL_SECONDS:
            return
        metadata.clear()  # refetch the document and, on first use, the JWKS
        try:
            await self.app.load_server_metadata()
            _check_metadata(self.config, metadata)
        except Exception:
            metadata.clear()  # a bad or partial document is never kept
            raise
        algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        metadata["id_token_signing_alg_values_supported"] = [
            a for a in algorithms if a in ID_TOKEN_ALGORITHMS
        ] or ["RS256"]
        self._issuer = metadata["issuer"]

    def requires_iss_parameter(self) -> bool:
        """RFC 9207: a provider advertising the parameter must always send it."""
        metadata = self.app.server_metadata
        return metadata.get("authorization_response_iss_parameter_supported") is True

    async def identify(self, token: dict[str, Any], pending: PendingSignIn) -> Identity:
        """Validate the ID token; take the email from it, or from the userinfo endpoint."""
        if "id_token" not in token or not pending.nonce:
            raise OAuthFailure(E.INVALID_ID_TOKEN, "no ID token in the token response")
        try:
            claims = await self.app.parse_id_token(
                token,
                nonce=pending.nonce,
                claims_options={"iss": {"essential": True, "values": [self.issuer]}},
                leeway=ID_TOKEN_LEEWAY_SECONDS,
            )
        except (JoseError, ValueError) as exc:
            raise OAuthFailure(E.INVALID_ID_TOKEN, repr(exc)) from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise OAuthFailure(E.INVALID_ID_TOKEN, "no sub")
        profile: Mapping[str, Any] = claims
        if "email" not in claims and self.app.server_metadata.get("userinfo_endpoint"):
            userinfo = await self.app.userinfo(token=token)
            if userinfo.get("sub") != subject:
                raise OAuthFailure(E.INVALID_ID_TOKEN, "userinfo is about another subject")
            profile = userinfo
        email = profile.get("email")
        return Identity(
            provider=self.name,
            subject=subject,
            email=email if isinstance(email, str) else None,
            email_verified=profile.get("email_verified") is True,
            name=_text(profile.get("name")),
        )


class GitHubProvider(ProviderClient):
    """GitHub (or GitHub Enterprise): OAuth 2 without OpenID; identity from its REST API."""

    async def identify(self, token: dict[str, Any], pending: PendingSignIn) -> Identity:
        """``GET /user`` for the numeric id, ``GET /user/emails`` for the verified primary email."""
        user = await self._api(token, "user")
        emails = await self._api(token, "user/emails")
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise OAuthFailure(E.PROVIDER_ERROR, "GitHub /user has no numeric id")
        primary = next(
            (
                e
                for e in (emails if isinstance(emails, list) else [])
                if isinstance(e, dict) and e.get("primary") is True
            ),
            None,
        )
        email = primary.get("email") if primary else None
        return Identity(
            provider=self.name,
            subject=str(user_id),
            email=email if isinstance(email, str) else None,
            email_verified=bool(primary and primary.get("verified") is True),
            name=_text(user.get("name")) or _text(user.get("login")),
        )

    async def _api(self, token: dict[str, Any], path: str) -> Any:
        response = await self.app.get(
            path,
            token=token,
            headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
        )
        if response.status_code in (401, 403):
            raise OAuthFailure(E.PROVIDER_ERROR, f"GitHub {path}: HTTP {response.status_code}")
        response.raise_for_status()
        return response.json()


def build_providers(config: OAuthConfig, store: StateStore) -> dict[str, ProviderClient]:
    """An Authlib client per configured provider, sharing one state store."""
    oauth = OAuth(cache=store)
    # Authlib opens a new HTTP client per provider call; sharing one TLS context spares each
    # of them loading the CA bundle again (about 15 ms apiece)
    tls = httpx.create_ssl_context()
    clients: dict[str, ProviderClient] = {}
    for name, provider in config.providers.items():
        client_kwargs: dict[str, Any] = {
            "scope": " ".join(provider.scopes),
            "code_challenge_method": "S256",
            "timeout": HTTP_TIMEOUT_SECONDS,
            "verify": tls,
        }
        if provider.kind == "github":
            base = provider.issuer.rstrip("/")
            client_kwargs["token_endpoint_auth_method"] = "client_secret_post"  # noqa: S105
            oauth.register(
                name,
                client_id=provider.client_id,
                client_secret=provider.client_secret,
                authorize_url=f"{base}/login/oauth/authorize",
                access_token_url=f"{base}/login/oauth/access_token",
                api_base_url=provider.github_api_url,
                client_kwargs=client_kwargs,
            )
            clients[name] = GitHubProvider(provider, oauth)
        else:
            oauth.register(
                name,
                client_id=provider.client_id,
                client_secret=provider.client_secret,
                server_metadata_url=provider.discovery_url,
                client_kwargs=client_kwargs,
            )
            clients[name] = OidcProvider(provider, oauth)
    return clients


def _check_metadata(config: ProviderConfig, metadata: Mapping[str, Any]) -> None:
    """OpenID Discovery §4.3: the document must name the issuer it was fetched from."""
    issuer = metadata.get("issuer")
    if not isinstance(issuer, str) or issuer.rstrip("/") != config.issuer.rstrip("/"):
        raise OAuthFailure(E.PROVIDER_UNAVAILABLE, f"discovery names issuer {issuer!r}")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(key), str):
            raise OAuthFailure(E.PROVIDER_UNAVAILABLE, f"discovery has no {key}")


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


@contextlib.asynccontextmanager
async def _provider_calls() -> AsyncIterator[None]:
    """Network and format failures of provider calls, as ``provider_unavailable``."""
    try:
        yield
    except OAuthFailure:
        raise
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise OAuthFailure(E.PROVIDER_UNAVAILABLE, repr(exc)) from exc

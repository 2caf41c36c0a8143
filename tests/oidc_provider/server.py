"""A real OAuth 2 / OpenID Connect provider for the tests, built from Authlib's server components.

``AuthorizationServer`` with the authorization code grant, the OpenID Connect ``OpenIDCode``
extension and PKCE (S256 required of every client), on Starlette. It serves discovery, an RSA
JWKS, authorize (auto-consent for :attr:`Knobs.account`, the "logged-in" test user), token and
userinfo. With ``kind="github"`` the same machinery answers on GitHub's paths instead, without
OpenID, plus ``GET /api/v3/user`` and ``/api/v3/user/emails`` as GitHub Enterprise serves them.

:class:`Knobs` make it misbehave the ways a relying party must notice: a wrong nonce, an ID
token signed by a key it does not publish, a wrong issuer, an expired token.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

KEY_ID = "test-signing-key"
CODE_TTL_SECONDS = 120


@dataclass
class Account:
    """The provider's user who "logs in" at the authorize step."""

    subject: str
    email: str | None
    email_verified: bool = True
    name: str | None = "Test Person"


@dataclass
class Knobs:
    """How the provider behaves for the next sign-ins (reset between tests)."""

    #: who logs in and consents; None: the user declines (error=access_denied)
    account: Account | None = None
    #: put this nonce in ID tokens instead of the one the client sent
    id_token_nonce: str | None = None
    #: sign ID tokens with a key that is not in the JWKS (same kid)
    foreign_key: bool = False
    #: the ID token's iss / aud, when not the provider's own / the client's
    id_token_issuer: str | None = None
    id_token_audience: str | None = None
    #: seconds until the ID token expires (negative: already expired)
    id_token_ttl: int = 300
    #: leave the email out of the ID token (the client must ask userinfo)
    email_only_in_userinfo: bool = False
    #: the RFC 9207 ``iss`` on callbacks: the issuer when None, left out when ""
    callback_iss: str | None = None


@dataclass
class Client(ClientMixin):
    """A registered relying party (a confidential client)."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):
    """An issued authorization code, bound to client, redirect URI, PKCE challenge and nonce."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    account: Account
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))
    expires_at: float = field(default_factory=lambda: time.time() + CODE_TTL_SECONDS)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


class _Payload(OAuth2Payload):
    def __init__(self, lists: dict[str, list[str]]) -> None:
        self._lists = lists

    @property
    def data(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._lists.items()}

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return defaultdict(list, self._lists)


class _Request(OAuth2Request):
    """An OAuth2Request from a Starlette request whose body was read already."""

    def __init__(self, request: Request, form: dict[str, list[str]]) -> None:
        super().__init__(request.method, str(request.url), headers=request.headers)
        self._args = {k: request.query_params.getlist(k) for k in request.query_params}
        self._form = form
        merged = defaultdict(list, {k: list(v) for k, v in self._args.items()})
        for key, values in form.items():
            merged[key].extend(values)
        self.payload = _Payload(dict(merged))

    @property
    def args(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._args.items()}

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._form.items()}


class _RequireS256(CodeChallenge):
    """PKCE for every client, S256 only (Authlib enforces it only for public clients)."""

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required")
        super().validate_code_challenge(grant, redirect_uri)


class _OpenIDCode(OpenIDCode):
    def __init__(self, provider: FakeProvider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        knobs = self.provider.knobs
        return self.provider.foreign_key if knobs.foreign_key else self.provider.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": KEY_ID, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        knobs = self.provider.knobs
        return {
            "iss": knobs.id_token_issuer or self.provider.issuer,
            "aud": [knobs.id_token_audience or client.client_id],
            "exp": int(time.time()) + knobs.id_token_ttl,
        }

    def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        if self.provider.knobs.id_token_nonce is not None:
            claims["nonce"] = self.provider.knobs.id_token_nonce
        return claims

    def generate_user_info(self, user: Account, scope: str) -> UserInfo:
        info = UserInfo(sub=user.subject)
        if "profile" in scope.split() and user.name:
            info["name"] = user.name
        if (
            "email" in scope.split()
            and user.email
            and not self.provider.knobs.email_only_in_userinfo
        ):
            info["email"] = user.email
            info["email_verified"] = user.email_verified
        return info


class _CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        self.server.provider.codes[code] = Code(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            account=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        item = self.server.provider.codes.get(code)
        if item and item.client_id == client.client_id and item.expires_at > time.time():
            return item
        return None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.server.provider.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> Account:
        return authorization_code.account


class _Server(AuthorizationServer):
    def __init__(self, provider: FakeProvider) -> None:
        super().__init__()
        self.provider = provider
        self.register_token_generator(
            "default", BearerTokenGenerator(lambda **_: secrets.token_urlsafe(32)).generate
        )
        extensions: list[Any] = [_RequireS256()]
        if provider.kind == "oidc":
            extensions.append(_OpenIDCode(provider))
        self.register_grant(_CodeGrant, extensions)

    def query_client(self, client_id: str) -> Client | None:
        return self.provider.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        self.provider.access_tokens[token["access_token"]] = request.user

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request  # built (body read) by the endpoint

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(body or "", status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


class FakeProvider:
    """The provider: an ASGI app (:attr:`app`) plus the state tests inspect and steer."""

    def __init__(self, kind: str = "oidc") -> None:
        self.kind = kind
        self.issuer = ""  # set once the server has a port
        self.key = RSAKey.generate_key(2048, {"kid": KEY_ID, "alg": "RS256", "use": "sig"})
        self.foreign_key = RSAKey.generate_key(2048, {"kid": KEY_ID, "alg": "RS256"})
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.access_tokens: dict[str, Account] = {}
        self.knobs = Knobs()
        #: the query of every authorization request and the form of every token request
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.emails: list[dict[str, Any]] | None = None  # GitHub: override /user/emails
        self.server = _Server(self)
        self.app = Starlette(routes=self._routes())

    def register_client(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        """Register (or re-register) a relying party."""
        self.clients[client_id] = Client(client_id, client_secret, [redirect_uri])

    def reset(self) -> None:
        """Forget codes, tokens and knobs."""
        self.knobs = Knobs()
        self.codes.clear()
        self.access_tokens.clear()
        self.authorize_requests.clear()
        self.token_requests.clear()
        self.emails = None

    def _routes(self) -> list[Route]:
        if self.kind == "github":
            return [
                Route("/login/oauth/authorize", self.authorize, methods=["GET"]),
                Route("/login/oauth/access_token", self.token, methods=["POST"]),
                Route("/api/v3/user", self.github_user, methods=["GET"]),
                Route("/api/v3/user/emails", self.github_emails, methods=["GET"]),
            ]
        return [
            Route("/.well-known/openid-configuration", self.discovery, methods=["GET"]),
            Route("/jwks", self.jwks, methods=["GET"]),
            Route("/authorize", self.authorize, methods=["GET"]),
            Route("/token", self.token, methods=["POST"]),
            Route("/userinfo", self.userinfo, methods=["GET"]),
        ]

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "scopes_supported": ["openid", "email", "profile"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        """Log the configured account in and consent at once (or decline without one)."""
        self.authorize_requests.append(dict(request.query_params))
        oauth_request = _Request(request, {})
        account = self.knobs.account
        try:
            grant = self.server.get_consent_grant(oauth_request, end_user=account)
        except OAuth2Error as error:
            return self.server.handle_error_response(oauth_request, error)
        response: Response = self.server.create_authorization_response(
            oauth_request, grant_user=account, grant=grant
        )
        location = response.headers.get("location")
        iss = self.issuer if self.knobs.callback_iss is None else self.knobs.callback_iss
        if location and iss and self.kind == "oidc":
            separator = "&" if "?" in location else "?"
            return RedirectResponse(f"{location}{separator}{urlencode({'iss': iss})}", 302)
        return response

    async def token(self, request: Request) -> Response:
        # urlencoded only (what OAuth clients send); no multipart parser needed
        lists = parse_qs((await request.body()).decode(), keep_blank_values=True)
        self.token_requests.append({k: v[0] for k, v in lists.items()})
        response: Response = self.server.create_token_response(_Request(request, lists))
        return response

    def _bearer(self, request: Request) -> Account | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return self.access_tokens.get(token) if scheme.lower() in {"bearer", "token"} else None

    async def userinfo(self, request: Request) -> Response:
        account = self._bearer(request)
        if account is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        info: dict[str, Any] = {"sub": account.subject, "name": account.name}
        if account.email:
            info |= {"email": account.email, "email_verified": account.email_verified}
        return JSONResponse(info)

    async def github_user(self, request: Request) -> Response:
        account = self._bearer(request)
        if account is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse(
            {"id": int(account.subject), "login": f"user{account.subject}", "name": account.name}
        )

    async def github_emails(self, request: Request) -> Response:
        account = self._bearer(request)
        if account is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        if self.emails is not None:
            return JSONResponse(self.emails)
        emails = [
            {
                "email": f"user{account.subject}@users.noreply.github.com",
                "primary": False,
                "verified": True,
                "visibility": None,
            }
        ]
        if account.email:
            emails.append(
                {
                    "email": account.email,
                    "primary": True,
                    "verified": account.email_verified,
                    "visibility": "private",
                }
            )
        return JSONResponse(emails)

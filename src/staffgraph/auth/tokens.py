"""Access tokens: RFC 9068 JWTs, issued and verified with an explicit algorithm list."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from staffgraph.models import Role
from staffgraph.settings import Settings

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
REQUIRED_CLAIMS = ["exp", "iat", "sub", "aud", "iss", "jti", "sid"]
#: a bearer token longer than this is refused before any parsing
MAX_TOKEN_LENGTH = 4096


class TokenError(Exception):
    """A presented access token was refused; ``reason`` goes to ``extensions.reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    roles: frozenset[Role]
    token_id: str
    expires_at: int


class TokenService:
    """Signs and verifies access tokens (HS256 with ``JWT_SECRET``)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.jwt_secret:
            raise ValueError("STAFFGRAPH_JWT_SECRET is required")
        self._key = settings.jwt_secret
        self._algorithm = "HS256"
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.ttl = settings.access_token_ttl

    def issue(self, user_id: uuid.UUID, session_id: uuid.UUID, roles: frozenset[Role]) -> str:
        """A signed access token for this user and session."""
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + self.ttl,
            "roles": sorted(r.value for r in roles),
        }
        return jwt.encode(
            claims, self._key, algorithm=self._algorithm, headers={"typ": ACCESS_TOKEN_TYPE}
        )

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid token, else :class:`TokenError` with the reason."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("invalid_token")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != ACCESS_TOKEN_TYPE:
                raise TokenError("invalid_token")
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS},
            )
            roles = frozenset(Role(r) for r in claims.get("roles", []))
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                roles=roles,
                token_id=str(claims["jti"]),
                expires_at=int(claims["exp"]),
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token_expired") from None
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise TokenError("invalid_token") from None

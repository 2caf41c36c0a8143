"""Access tokens: RFC 9068 JWTs, issued and verified with an explicit algorithm list.

Verification refuses, with ``invalid_token`` unless said otherwise:
- anything longer than :data:`MAX_TOKEN_LENGTH` before parsing it;
- a header ``typ`` other than ``at+jwt`` (RFC 9068 §4), so an ID token or any other JWT signed
  with the same key cannot pass for an access token;
- a ``kid`` naming no configured key (asymmetric mode), and any algorithm but the one that key
  was configured for (``alg: none`` included, whatever its case);
- a bad signature, a wrong ``iss`` or ``aud``, a missing required claim, malformed claims;
- an ``exp`` in the past: ``token_expired``.

A token that verified is remembered (a bounded cache keyed by the whole token string), so that
a client's next requests with it skip the signature and the parsing; its times (``exp``,
``iat``, ``nbf``) are checked again on every use, and revocation is not decided here at all.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt

from staffgraph.auth.keys import KeySet
from staffgraph.models import Role
from staffgraph.settings import Settings

log = logging.getLogger("staffgraph.auth")

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ["exp", "iat", "sub", "aud", "iss", "jti", "sid"]
#: a bearer token longer than this is refused before any parsing
MAX_TOKEN_LENGTH = 4096
#: tolerated clock difference between instances, in seconds
LEEWAY_SECONDS = 5
#: verified tokens remembered per process (the least recently used go first)
VERIFIED_TOKENS_KEPT = 4096


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


def _peek_header(token: str) -> dict[str, Any]:
    """The JOSE header, unverified, to pick the key: PyJWT parses it again, strictly.

    (PyJWT's own ``get_unverified_header`` checks every character in Python and would double
    the cost of a request's verification.)
    """
    segment = token.split(".", 1)[0]
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    if not isinstance(header, dict):
        raise TokenError("invalid_token")
    return header


def build_key_set(settings: Settings) -> KeySet:
    """The keys ``settings`` configure: the private key file when set, else the secret."""
    if settings.jwt_private_key_file:
        return KeySet.asymmetric(
            settings.jwt_private_key_file, settings.jwt_previous_public_key_files
        )
    if not settings.jwt_secret:
        raise ValueError("STAFFGRAPH_JWT_SECRET or STAFFGRAPH_JWT_PRIVATE_KEY_FILE is required")
    return KeySet.symmetric(settings.jwt_secret)


class TokenService:
    """Signs and verifies access tokens (HS256 with ``JWT_SECRET``, or ES256/EdDSA)."""

    def __init__(self, settings: Settings, keys: KeySet | None = None) -> None:
        self.keys = keys or build_key_set(settings)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.ttl = settings.access_token_ttl
        self._decoder = jwt.PyJWT()
        #: token -> its claims and the earliest time it is valid (max of iat and nbf)
        self._verified: OrderedDict[str, tuple[AccessClaims, float]] = OrderedDict()

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
        headers: dict[str, Any] = {"typ": "at+jwt"}
        if self.keys.signing_kid is not None:
            headers["kid"] = self.keys.signing_kid
        return jwt.encode(
            claims, self.keys.signing_key, algorithm=self.keys.signing_algorithm, headers=headers
        )

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid token, else :class:`TokenError` with the reason."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("invalid_token")
        known = self._verified.get(token)
        if known is not None:
            claims, valid_from = known
            now = time.time()
            # PyJWT's own rules, with the same leeway: expired at exp, immature before iat/nbf
            if claims.expires_at <= now - LEEWAY_SECONDS:
                del self._verified[token]
                raise TokenError("token_expired")
            if valid_from > now + LEEWAY_SECONDS:
                raise TokenError("invalid_token")
            self._verified.move_to_end(token)
            return claims
        try:
            claims, valid_from = self._verify(token)
        except TokenError:
            raise
        except jwt.ExpiredSignatureError:
            raise TokenError("token_expired") from None
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError, binascii.Error):
            raise TokenError("invalid_token") from None
        except Exception:  # a refused token must never become a 500
            log.warning("unexpected error while verifying an access token", exc_info=True)
            raise TokenError("invalid_token") from None
        self._verified[token] = (claims, valid_from)
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return claims

    def _verify(self, token: str) -> tuple[AccessClaims, float]:
        header = _peek_header(token)
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise TokenError("invalid_token")
        key, algorithm = self._key_for(header)
        claims = self._decoder.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=self._audience,
            issuer=self._issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TokenError("invalid_token")
        if not isinstance(claims["sub"], str) or not isinstance(claims["sid"], str):
            raise TokenError("invalid_token")
        verified = AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            session_id=uuid.UUID(claims["sid"]),
            roles=frozenset(Role(r) for r in roles),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
        )
        return verified, max(float(claims["iat"]), float(claims.get("nbf", claims["iat"])))

    def _key_for(self, header: dict[str, Any]) -> tuple[Any, str]:
        """The key and the one algorithm it verifies, chosen by configuration, not the header."""
        if self.keys.secret is not None:
            return self.keys.secret, "HS256"
        kid = header.get("kid")
        public = self.keys.public_keys.get(kid) if isinstance(kid, str) else None
        if public is None:
            raise TokenError("invalid_token")
        return public.key, public.algorithm

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys that verify tokens, as a JWK Set."""
        return self.keys.jwks()

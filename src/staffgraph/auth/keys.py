"""Signing and verification keys for access tokens, and the JWKS that publishes them.

Each key carries its own algorithm: HS256 for the shared secret, ES256 for an EC P-256 key,
EdDSA for an Ed25519 key. A token is verified with the algorithm of the key its ``kid`` names,
never with the one its header asks for, so an HS256 token "signed" with a published public key
(the classic key-confusion attack) is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

HS256 = "HS256"
ES256 = "ES256"
EDDSA = "EdDSA"


class KeyConfigError(ValueError):
    """A configured key file cannot be used; the message names the file and why."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key that verifies tokens: its algorithm, RFC 7638 ``kid`` and JWK members."""

    algorithm: str
    key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
    kid: str
    jwk: dict[str, str]


def public_jwk(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> dict[str, str]:
    """The required JWK members of ``key`` (RFC 7518 §6.2 for EC, RFC 8037 for OKP)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}


def thumbprint(jwk: dict[str, str]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a JWK's required members, base64url."""
    canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _b64url(hashlib.sha256(canonical).digest())


def _public(key: Any, path: str) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyConfigError(f"{path}: EC keys must be on P-256, not {key.curve.name}")
        algorithm = ES256
    elif isinstance(key, ed25519.Ed25519PublicKey):
        algorithm = EDDSA
    else:
        raise KeyConfigError(f"{path}: expected an EC P-256 or Ed25519 key")
    jwk = public_jwk(key)
    return PublicKey(algorithm, key, thumbprint(jwk), jwk)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyConfigError(f"{path}: cannot be read ({exc.strerror})") from None


def load_private_key(path: str) -> tuple[Any, PublicKey]:
    """The private key in the PEM file ``path`` and its public half."""
    try:
        private = serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError):
        raise KeyConfigError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(private, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise KeyConfigError(f"{path}: expected an EC P-256 or Ed25519 key")
    return private, _public(private.public_key(), path)


def load_public_key(path: str) -> PublicKey:
    """The public key in the PEM file ``path`` (a private key file gives its public half)."""
    data = _read(path)
    try:
        return _public(serialization.load_pem_public_key(data), path)
    except ValueError:
        pass
    return load_private_key(path)[1]


@dataclass
class KeySet:
    """The signing key and every key that still verifies.

    Symmetric mode: one HS256 secret signs and verifies, and there is nothing to publish.
    Asymmetric mode: the private key signs with its ``kid``; it and the previous public keys
    verify, each only with its own algorithm; the shared secret verifies nothing.
    """

    signing_algorithm: str
    signing_key: Any
    signing_kid: str | None = None
    secret: bytes | None = None
    public_keys: dict[str, PublicKey] = field(default_factory=dict)

    @classmethod
    def symmetric(cls, secret: str) -> KeySet:
        """HS256 with ``secret``."""
        key = secret.encode("utf-8")
        return cls(signing_algorithm=HS256, signing_key=key, secret=key)

    @classmethod
    def asymmetric(cls, private_key_file: str, previous_public_key_files: list[str]) -> KeySet:
        """ES256/EdDSA with the key in ``private_key_file``; older public keys still verify."""
        private, public = load_private_key(private_key_file)
        keys = {public.kid: public}
        for path in previous_public_key_files:
            previous = load_public_key(path)
            keys.setdefault(previous.kid, previous)
        return cls(
            signing_algorithm=public.algorithm,
            signing_key=private,
            signing_kid=public.kid,
            public_keys=keys,
        )

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set of every verifying public key (empty in symmetric mode)."""
        return {
            "keys": [
                {**k.jwk, "kid": k.kid, "alg": k.algorithm, "use": "sig"}
                for k in self.public_keys.values()
            ]
        }

"""Helpers shared by the authentication tests: apps with their own settings, raw requests."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from staffgraph.app import create_app
from staffgraph.settings import Settings
from tests.conftest import TEST_PASSWORD

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    accessToken refreshToken tokenType expiresIn
    user { id email lastLoginAt }
  }
}
"""

REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(refreshToken: $token) { accessToken refreshToken expiresIn user { id email } }
}
"""

#: a field that needs a signed-in user
NEEDS_USER = "{ me { id } users(first: 1) { totalCount } }"


@asynccontextmanager
async def serve(
    settings: Settings, client_ip: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    """A started app with ``settings`` on the test database, and a client talking to it."""
    app = create_app(settings, manage_orm=False)
    await app.state.services.start()
    try:
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
    finally:
        await app.state.services.stop()


def unstarted(settings: Settings) -> httpx.AsyncClient:
    """A client of an app whose services were never started (its Redis need not answer)."""
    app = create_app(settings, manage_orm=False)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def client_for(app: Any, client_ip: str) -> httpx.AsyncClient:
    """Another client of ``app`` from another address."""
    transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST a GraphQL operation with raw headers; returns the body (status must be 200)."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=sent
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(
    client: httpx.AsyncClient,
    email: str,
    password: str = TEST_PASSWORD,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The body of a ``login`` mutation."""
    return await post(client, LOGIN, {"email": email, "password": password}, headers=headers)


async def login_ok(client: httpx.AsyncClient, email: str, password: str = TEST_PASSWORD) -> Any:
    """The ``AuthPayload`` of a login that must succeed."""
    body = await login(client, email, password)
    assert "errors" not in body, body
    return body["data"]["login"]


async def refresh(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """The body of a ``refreshToken`` mutation."""
    return await post(client, REFRESH, {"token": token})


def first_error(body: dict[str, Any]) -> dict[str, Any]:
    """The first error of a response, which must have one."""
    assert body.get("errors"), body
    error: dict[str, Any] = body["errors"][0]
    return error


def assert_refused(body: dict[str, Any], reason: str) -> None:
    """The response refused a field needing a user with UNAUTHENTICATED and ``reason``."""
    error = first_error(body)
    assert error["extensions"]["code"] == "UNAUTHENTICATED", body
    assert error["extensions"]["reason"] == reason, body


def b64url(data: bytes | dict[str, Any]) -> str:
    """Base64url without padding, of bytes or of compact JSON."""
    raw = json.dumps(data, separators=(",", ":")).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(part: str) -> dict[str, Any]:
    """The JSON object in one part of a compact JWS."""
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def write_ec_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """A new EC P-256 private key, written as PEM to ``path``."""
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


def write_ed25519_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """A new Ed25519 private key, written as PEM to ``path``."""
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


def write_public_key(key: Any, path: Path) -> bytes:
    """The PEM of ``key``'s public half, also written to ``path``."""
    pem: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path.write_bytes(pem)
    return pem


def services_of(client: httpx.AsyncClient) -> Any:
    """The services of the app behind a client made by :func:`serve` or :func:`client_for`."""
    return client._transport.app.state.services  # type: ignore[attr-defined]

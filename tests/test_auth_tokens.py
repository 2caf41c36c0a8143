"""Access tokens under attack: every forged, stale or malformed token is refused with a reason,
never a 500, and never stops ``login`` from working in the same state."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from staffgraph.auth.keys import KeyConfigError, KeySet, public_jwk, thumbprint
from staffgraph.auth.tokens import TokenError, TokenService
from staffgraph.models import Role
from staffgraph.settings import SettingsError
from tests.auth_helpers import (
    NEEDS_USER,
    assert_refused,
    b64url,
    login,
    login_ok,
    post,
    serve,
    unb64url,
    write_ec_key,
    write_ed25519_key,
    write_public_key,
)
from tests.conftest import JWT_SECRET, make_user, token_for
from tests.conftest import test_settings as settings_for

EMAIL = "ada@example.com"


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a token, unverified."""
    return unb64url(token.split(".")[1])


def hs256(claims: dict[str, Any], key: bytes, header: dict[str, Any] | None = None) -> str:
    """A compact JWS signed with HMAC-SHA256 by hand (PyJWT refuses some of these keys)."""
    signing_input = f"{b64url(header or {'alg': 'HS256', 'typ': 'at+jwt'})}.{b64url(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned(claims: dict[str, Any], alg: str, extra: dict[str, Any] | None = None) -> str:
    """An ``alg: none`` style token with an empty signature."""
    return f"{b64url({'alg': alg, 'typ': 'at+jwt', **(extra or {})})}.{b64url(claims)}."


async def refused_then_login_works(client: Any, token_or_header: str, reason: str) -> None:
    """The bad credential is refused with ``reason``; login with it still present works."""
    header = (
        token_or_header
        if token_or_header.split(" ", 1)[0] in {"Bearer", "Basic"}
        else f"Bearer {token_or_header}"
    )
    body = await post(client, NEEDS_USER, headers={"Authorization": header})
    assert_refused(body, reason)
    assert body["data"] is None  # users is non-null: the error bubbles up
    body = await login(client, EMAIL, headers={"Authorization": header})
    assert "errors" not in body, body
    assert body["data"]["login"]["user"]["email"] == EMAIL
    me = await post(client, "{ me { email } }", token=body["data"]["login"]["accessToken"])
    assert me == {"data": {"me": {"email": EMAIL}}}


@pytest.fixture
async def good_token(app: Any) -> str:
    """A valid token of a user with the test password (created here)."""
    user = await make_user(EMAIL)
    return await token_for(app, user)


# --- an HS256 server ---------------------------------------------------------------------


async def test_a_valid_token_is_accepted(client, good_token):
    body = await post(client, "{ me { email } users(first: 1) { totalCount } }", token=good_token)
    assert body == {"data": {"me": {"email": EMAIL}, "users": {"totalCount": 1}}}
    header = unb64url(good_token.split(".")[0])
    assert header == {"alg": "HS256", "typ": "at+jwt"}
    assert set(claims_of(good_token)) == {"iss", "aud", "sub", "exp", "iat", "jti", "sid", "roles"}


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(client, good_token, alg):
    await refused_then_login_works(client, unsigned(claims_of(good_token), alg), "invalid_token")


async def test_hs256_signed_with_another_key_is_refused(client, good_token):
    forged = hs256(claims_of(good_token), b"another-secret-" + b"y" * 40)
    await refused_then_login_works(client, forged, "invalid_token")


async def test_es256_token_against_an_hs256_server_is_refused(client, good_token):
    key = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(claims_of(good_token), key, algorithm="ES256", headers={"typ": "at+jwt"})
    await refused_then_login_works(client, forged, "invalid_token")


async def test_tampered_roles_are_refused(client, good_token):
    header, _, signature = good_token.split(".")
    claims = claims_of(good_token)
    claims["roles"] = ["ADMIN", "EMPLOYEE", "HR"]
    await refused_then_login_works(
        client, f"{header}.{b64url(claims)}.{signature}", "invalid_token"
    )


async def test_an_expired_token_says_so(client, good_token):
    claims = claims_of(good_token)
    claims.update(iat=int(time.time()) - 3600, exp=int(time.time()) - 60)
    expired = hs256(claims, JWT_SECRET.encode())
    await refused_then_login_works(client, expired, "token_expired")


async def me_of(client: Any, authorization: str | None) -> dict[str, Any]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return await post(client, "{ me { email } }", headers=headers)


async def test_me_without_a_token_is_null_and_no_error(client, good_token):
    assert await me_of(client, None) == {"data": {"me": None}}


async def test_me_with_a_refused_token_is_null_with_the_reason(client, good_token):
    # a client that starts on `me` must learn to refresh, not take the user for signed out
    claims = claims_of(good_token)
    claims.update(iat=int(time.time()) - 3600, exp=int(time.time()) - 60)
    cases = {
        "token_expired": "Bearer " + hs256(claims, JWT_SECRET.encode()),
        "invalid_token": "Bearer " + hs256(claims_of(good_token), b"other-key-" + b"z" * 40),
    }
    for reason, header in [*cases.items(), ("invalid_token", "Basic abc")]:
        body = await me_of(client, header)
        assert body["data"] == {"me": None}
        assert [(e["path"], e["extensions"]) for e in body["errors"]] == [
            (["me"], {"code": "UNAUTHENTICATED", "reason": reason})
        ]


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "sid", "jti", "aud", "iss"])
async def test_a_missing_required_claim_is_refused(client, good_token, claim):
    claims = claims_of(good_token)
    del claims[claim]
    await refused_then_login_works(client, hs256(claims, JWT_SECRET.encode()), "invalid_token")


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("aud", "another-api"),
        ("aud", ["another-api"]),
        ("iss", "https://evil.example"),
        ("iss", "staffgraph-but-longer"),
        ("sub", "not-a-uuid"),
        ("sid", 42),
        ("roles", ["SUPERUSER"]),
        ("roles", "ADMIN"),
        ("exp", "tomorrow"),
        ("iat", int(time.time()) + 3600),
    ],
)
async def test_wrong_claims_are_refused(client, good_token, claim, value):
    claims = claims_of(good_token)
    claims[claim] = value
    await refused_then_login_works(client, hs256(claims, JWT_SECRET.encode()), "invalid_token")


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "HS256", "typ": "JWT"},
        {"alg": "HS256"},
        {"alg": "HS256", "typ": "id+jwt"},
        {"alg": "HS256", "typ": 1},
    ],
)
async def test_a_wrong_typ_is_refused(client, good_token, header):
    forged = hs256(claims_of(good_token), JWT_SECRET.encode(), header)
    await refused_then_login_works(client, forged, "invalid_token")


async def test_a_refresh_token_is_no_bearer_token(client):
    await make_user(EMAIL)
    payload = await login_ok(client, EMAIL)
    await refused_then_login_works(client, payload["refreshToken"], "invalid_token")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer x.y",
        "Bearer x.y.z",
        "Bearer ....",
        "Basic YWRhQGV4YW1wbGUuY29tOnBhc3N3b3Jk",
        "Bearer " + "a" * 10_240,
        "Bearer " + "eyJhbGciOiJIUzI1NiJ9." * 500,
        "Bearer a b",
    ],
)
async def test_malformed_authorization_headers_are_refused(client, good_token, header):
    await refused_then_login_works(client, header, "invalid_token")


async def test_an_hs256_server_publishes_no_keys(client):
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == {"keys": []}
    assert response.headers["content-type"].startswith("application/jwk-set+json")


# --- ES256 and EdDSA servers ----------------------------------------------------------------


@pytest.fixture(params=["ES256", "EdDSA"])
def key_file(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path, Any]:
    """A private key file for each asymmetric algorithm."""
    path = tmp_path / "signing.pem"
    key = write_ec_key(path) if request.param == "ES256" else write_ed25519_key(path)
    return request.param, path, key


@pytest.fixture
async def signed_client(db, database_url, redis_url, key_file) -> Any:
    """A client of a server signing with ``key_file`` (a JWT secret is set too, and unused)."""
    _, path, _ = key_file
    settings = settings_for(
        database_url=database_url, redis_url=redis_url, jwt_private_key_file=str(path)
    )
    async with serve(settings) as c:
        yield c


async def test_asymmetric_tokens_carry_the_key_thumbprint(signed_client, key_file):
    algorithm, _, key = key_file
    await make_user(EMAIL)
    payload = await login_ok(signed_client, EMAIL)
    header = unb64url(payload["accessToken"].split(".")[0])
    expected_kid = thumbprint(public_jwk(key.public_key()))
    assert header == {"alg": algorithm, "typ": "at+jwt", "kid": expected_kid}
    me = await post(signed_client, "{ me { email } }", token=payload["accessToken"])
    assert me == {"data": {"me": {"email": EMAIL}}}

    jwks = (await signed_client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [expected_kid]
    published = jwks["keys"][0]
    assert published["alg"] == algorithm
    assert published["use"] == "sig"
    assert "d" not in published  # never the private part
    verifier = jwt.PyJWK(published).key
    claims = jwt.decode(
        payload["accessToken"], verifier, algorithms=[algorithm], audience="staffgraph"
    )
    assert claims["sub"] == payload["user"]["id"]


async def test_key_confusion_hs256_with_the_public_key_is_refused(signed_client, key_file):
    _, _, key = key_file
    await make_user(EMAIL)
    good = (await login_ok(signed_client, EMAIL))["accessToken"]
    kid = unb64url(good.split(".")[0])["kid"]
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (pem, pem.strip(), der):
        forged = hs256(claims_of(good), secret, {"alg": "HS256", "typ": "at+jwt", "kid": kid})
        await refused_then_login_works(signed_client, forged, "invalid_token")


async def test_the_shared_secret_verifies_nothing_once_keys_are_configured(signed_client):
    await make_user(EMAIL)
    good = (await login_ok(signed_client, EMAIL))["accessToken"]
    kid = unb64url(good.split(".")[0])["kid"]
    for header in (
        {"alg": "HS256", "typ": "at+jwt"},
        {"alg": "HS256", "typ": "at+jwt", "kid": kid},
    ):
        forged = hs256(claims_of(good), JWT_SECRET.encode(), header)
        await refused_then_login_works(signed_client, forged, "invalid_token")


async def test_unknown_missing_or_mismatched_kid_is_refused(signed_client, key_file):
    algorithm, _, _ = key_file
    await make_user(EMAIL)
    good = (await login_ok(signed_client, EMAIL))["accessToken"]
    kid = unb64url(good.split(".")[0])["kid"]
    claims = claims_of(good)
    stranger = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == "ES256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    forged = [
        # signed by another key that claims our kid
        jwt.encode(claims, stranger, algorithm=algorithm, headers={"typ": "at+jwt", "kid": kid}),
        # no kid at all
        jwt.encode(claims, stranger, algorithm=algorithm, headers={"typ": "at+jwt"}),
        # a kid we never configured
        jwt.encode(claims, stranger, algorithm=algorithm, headers={"typ": "at+jwt", "kid": "x"}),
        # a non-string kid (PyJWT will not encode one)
        f"{b64url({'alg': algorithm, 'typ': 'at+jwt', 'kid': 7})}.{good.split('.', 1)[1]}",
        unsigned(claims, "none", {"kid": kid}),
    ]
    for token in forged:
        await refused_then_login_works(signed_client, token, "invalid_token")


async def test_the_other_asymmetric_algorithm_is_refused_for_a_kid(signed_client, key_file):
    algorithm, _, _ = key_file
    await make_user(EMAIL)
    good = (await login_ok(signed_client, EMAIL))["accessToken"]
    kid = unb64url(good.split(".")[0])["kid"]
    if algorithm == "ES256":
        other_key: Any = ed25519.Ed25519PrivateKey.generate()
        other = "EdDSA"
    else:
        other_key, other = ec.generate_private_key(ec.SECP256R1()), "ES256"
    forged = jwt.encode(
        claims_of(good), other_key, algorithm=other, headers={"typ": "at+jwt", "kid": kid}
    )
    await refused_then_login_works(signed_client, forged, "invalid_token")


async def test_previous_keys_keep_verifying_after_rotation(db, database_url, redis_url, tmp_path):
    old_path, new_path = tmp_path / "old.pem", tmp_path / "new.pem"
    old_key = write_ec_key(old_path)
    write_ed25519_key(new_path)
    write_public_key(old_key, tmp_path / "old.pub.pem")
    await make_user(EMAIL)

    before = settings_for(
        database_url=database_url, redis_url=redis_url, jwt_private_key_file=str(old_path)
    )
    async with serve(before) as c:
        old_token = (await login_ok(c, EMAIL))["accessToken"]

    after = settings_for(
        database_url=database_url,
        redis_url=redis_url,
        jwt_private_key_file=str(new_path),
        jwt_previous_public_key_files=str(tmp_path / "old.pub.pem"),
    )
    async with serve(after) as c:
        me = await post(c, "{ me { email } }", token=old_token)
        assert me == {"data": {"me": {"email": EMAIL}}}
        new_token = (await login_ok(c, EMAIL))["accessToken"]
        assert unb64url(new_token.split(".")[0])["alg"] == "EdDSA"
        jwks = (await c.get("/.well-known/jwks.json")).json()
        assert sorted(k["alg"] for k in jwks["keys"]) == ["ES256", "EdDSA"]

    # once the old key is no longer listed, its tokens are refused
    dropped = settings_for(
        database_url=database_url, redis_url=redis_url, jwt_private_key_file=str(new_path)
    )
    async with serve(dropped) as c:
        assert_refused(await post(c, NEEDS_USER, token=old_token), "invalid_token")
        assert (await post(c, "{ me { email } }", token=new_token))["data"]["me"]


# --- keys and the verifier without HTTP -----------------------------------------------------


def test_thumbprint_matches_rfc_8037_example():
    # RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_unsupported_keys_are_refused_at_start(tmp_path):
    unsupported = {
        "rsa.pem": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "p384.pem": ec.generate_private_key(ec.SECP384R1()),
    }
    for name, key in unsupported.items():
        path = tmp_path / name
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        with pytest.raises(KeyConfigError, match=name):
            KeySet.asymmetric(str(path), [])
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(KeyConfigError, match=r"garbage\.pem"):
        KeySet.asymmetric(str(garbage), [])
    with pytest.raises(KeyConfigError, match=r"missing\.pem"):
        KeySet.asymmetric(str(tmp_path / "missing.pem"), [])


def test_settings_name_an_unusable_key_file(tmp_path, database_url):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(SettingsError) as caught:
        settings_for(database_url=database_url, jwt_private_key_file=str(bad))
    assert caught.value.problems == [
        f"STAFFGRAPH_JWT_PRIVATE_KEY_FILE: Value error, {bad}: not an unencrypted PEM private key"
    ]
    with pytest.raises(SettingsError) as caught:
        settings_for(
            database_url=database_url, jwt_previous_public_key_files=f"{tmp_path}/gone.pem"
        )
    assert "STAFFGRAPH_JWT_PREVIOUS_PUBLIC_KEY_FILES" in caught.value.problems[0]
    assert "gone.pem: cannot be read" in caught.value.problems[0]


def test_verify_reports_reasons_without_http(settings):
    service = TokenService(settings)
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token = service.issue(user_id, session_id, frozenset({Role.HR}))
    claims = service.verify(token)
    assert (claims.user_id, claims.session_id, claims.roles) == (
        user_id,
        session_id,
        frozenset({Role.HR}),
    )
    for bad in ["", ".", "a.b.c", token + "x", token[:-2], "x" * 5000]:
        with pytest.raises(TokenError) as caught:
            service.verify(bad)
        assert caught.value.reason == "invalid_token"


def test_a_remembered_token_still_expires(settings, monkeypatch):
    """A verified token is remembered, but its times are judged on every use."""
    service = TokenService(settings)
    token = service.issue(uuid.uuid4(), uuid.uuid4(), frozenset({Role.EMPLOYEE}))
    first = service.verify(token)
    assert service.verify(token) == first
    later = time.time() + settings.access_token_ttl + 10  # past exp and the leeway
    monkeypatch.setattr("staffgraph.auth.tokens.time.time", lambda: later)
    with pytest.raises(TokenError) as caught:
        service.verify(token)
    assert caught.value.reason == "token_expired"


def test_a_remembered_token_is_not_valid_before_its_time(settings, monkeypatch):
    service = TokenService(settings)
    token = service.issue(uuid.uuid4(), uuid.uuid4(), frozenset({Role.EMPLOYEE}))
    service.verify(token)
    earlier = time.time() - 60  # a clock set back: the token was issued "in the future"
    monkeypatch.setattr("staffgraph.auth.tokens.time.time", lambda: earlier)
    with pytest.raises(TokenError) as caught:
        service.verify(token)
    assert caught.value.reason == "invalid_token"


def test_a_tampered_copy_of_a_remembered_token_is_refused(settings):
    service = TokenService(settings)
    token = service.issue(uuid.uuid4(), uuid.uuid4(), frozenset({Role.EMPLOYEE}))
    service.verify(token)
    header, payload, signature = token.split(".")
    claims = unb64url(payload)
    claims["roles"] = ["ADMIN"]
    with pytest.raises(TokenError):
        service.verify(".".join([header, b64url(claims), signature]))

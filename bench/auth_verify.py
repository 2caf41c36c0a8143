"""Per-request cost of authentication: parse the header, verify the JWT, check revocation.

Runs ``staffgraph.app.authenticate`` (what every request does) in a loop with timeit, for each
signing algorithm, against a revocation store holding 10,000 revoked sessions. No network, no
database: verification and the revocation check are in-process by design.

    .venv/bin/python bench/auth_verify.py [--number 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import timeit
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from staffgraph.app import authenticate
from staffgraph.models import Role
from staffgraph.services import Services
from staffgraph.settings import load_settings

REVOKED_SESSIONS = 10_000


def _key_file(directory: Path, algorithm: str) -> str:
    key = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == "ES256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    path = directory / f"{algorithm}.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def _services(algorithm: str, directory: Path) -> Services:
    overrides: dict[str, object] = {
        "_env_file": None,
        "database_url": "sqlite://:memory:",
        "jwt_secret": "bench-secret-" + "x" * 40,
    }
    if algorithm != "HS256":
        overrides["jwt_private_key_file"] = _key_file(directory, algorithm)
    services = Services.build(load_settings(**overrides))
    asyncio.run(services.revocations.revoke([uuid.uuid4() for _ in range(REVOKED_SESSIONS)]))
    return services


def measure(algorithm: str, number: int, directory: Path) -> tuple[float, float]:
    """Microseconds per accepted and per revoked request, best of five runs."""
    services = _services(algorithm, directory)
    user, session = uuid.uuid4(), uuid.uuid4()
    header = "Bearer " + services.tokens.issue(user, session, frozenset({Role.EMPLOYEE}))
    viewer, error = authenticate(services, header)
    assert viewer is not None, error

    revoked_session = uuid.uuid4()
    asyncio.run(services.revocations.revoke([revoked_session]))
    revoked = "Bearer " + services.tokens.issue(user, revoked_session, frozenset({Role.EMPLOYEE}))
    assert authenticate(services, revoked) == (None, "token_revoked")

    def per_call(value: str) -> float:
        runs = timeit.repeat(lambda: authenticate(services, value), number=number, repeat=5)
        return min(runs) / number * 1e6

    result = per_call(header), per_call(revoked)
    services.passwords.close()
    return result


def main() -> None:
    """Print a table of microseconds per request."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per timing run")
    args = parser.parse_args()
    print(f"authenticate() per request, {REVOKED_SESSIONS:,} sessions revoked, best of 5")
    print(f"{'algorithm':<10}{'accepted (us)':>16}{'revoked (us)':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        for algorithm in ("HS256", "ES256", "EdDSA"):
            number = args.number if algorithm == "HS256" else max(1, args.number // 10)
            accepted, revoked = measure(algorithm, number, Path(tmp))
            print(f"{algorithm:<10}{accepted:>16.1f}{revoked:>16.1f}")


if __name__ == "__main__":
    main()

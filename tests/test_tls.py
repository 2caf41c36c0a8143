"""``staffgraph serve --ssl-certfile --ssl-keyfile``: HTTPS with HSTS, with a certificate made
here for 127.0.0.1."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.slow


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, ssl.SSLContext]]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(directory)
    trust = ssl.create_default_context(cafile=str(cert))
    with live_server(
        directory,
        "--ssl-certfile",
        str(cert),
        "--ssl-keyfile",
        str(key),
        scheme="https",
        verify=trust,
    ) as server:
        yield server, trust


def test_https_request_with_hsts(tls: tuple[LiveServer, ssl.SSLContext]) -> None:
    server, trust = tls
    with httpx.Client(base_url=server.base_url, verify=trust) as client:
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        answer = client.post("/graphql", json={"query": "{ __typename }"})
        assert answer.json() == {"data": {"__typename": "Query"}}
        assert "strict-transport-security" in answer.headers
        refused = client.put("/graphql")
        assert "strict-transport-security" in refused.headers


def test_certificate_is_checked_by_clients(tls: tuple[LiveServer, ssl.SSLContext]) -> None:
    # the server really speaks TLS with the given certificate: an untrusting client refuses it
    server, _ = tls
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/healthz", verify=True)

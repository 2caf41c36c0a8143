"""``X-Request-ID`` and the security headers of every response (written by
:class:`staffgraph.http.edge.Edge`); request headers read from the ASGI scope.

The middleware of every request read and write headers here as the raw lists of the ASGI
messages: Starlette's ``Headers`` and ``MutableHeaders`` decode every header at each lookup,
a share of a cheap request that showed in its profile (bench/README.md, "The HTTP path and
hydration").
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network

from starlette.types import Scope

from staffgraph.http.client_address import is_trusted

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
HSTS = "max-age=31536000; includeSubDomains"
#: JSON answers never need to load anything or be framed
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

RawHeaders = list[tuple[bytes, bytes]]

#: set on every response, replacing what the application set
_ALWAYS: RawHeaders = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_HSTS = (b"strict-transport-security", HSTS.encode())
#: set unless the application set them
_DEFAULTS: RawHeaders = [
    (b"content-security-policy", API_CSP.encode()),
    (b"cache-control", b"no-store"),
]
_REPLACED = frozenset({b"x-request-id", *(name for name, _ in _ALWAYS)})
_REPLACED_TLS = _REPLACED | {_HSTS[0]}


def request_header(scope: Scope, name: bytes) -> str | None:
    """The first value of the request header ``name`` (lower case, as ASGI servers give every
    name), as Starlette's ``Headers(scope=scope).get`` reads it; None when absent."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def request_header_values(scope: Scope, name: bytes) -> list[str]:
    """Every value of the request header ``name``, in order (``Headers.getlist``)."""
    return [value.decode("latin-1") for key, value in scope["headers"] if key == name]


def new_request_id() -> str:
    """32 random hex digits, the shape of ``uuid4().hex``.

    From the ``random`` module, as OpenTelemetry's SDK makes its ids: a request id correlates
    log lines and needs no secrecy, and reading the operating system's entropy pool is a system
    call per request (it reseeds in a forked child).
    """
    return f"{random.getrandbits(128):032x}"


def secured(headers: Iterable[tuple[bytes, bytes]], request_id: str, tls: bool) -> RawHeaders:
    """A response's headers with ``X-Request-ID`` and the security headers: what
    ``MutableHeaders`` gives setting ``X-Request-ID``, the three of :data:`_ALWAYS` and, under
    TLS, ``Strict-Transport-Security``, and ``setdefault`` of :data:`_DEFAULTS`."""
    replaced = _REPLACED_TLS if tls else _REPLACED
    result = [header for header in headers if header[0] not in replaced]
    present = {name for name, _ in result}
    result.append((b"x-request-id", request_id.encode("latin-1")))
    result += _ALWAYS
    result += [header for header in _DEFAULTS if header[0] not in present]
    if tls:
        result.append(_HSTS)
    return result


def request_id_for(scope: Scope) -> str:
    """The request's id: a well-formed inbound ``X-Request-ID``, else a new one."""
    inbound = request_header(scope, b"x-request-id") or ""
    return inbound if _REQUEST_ID_RE.match(inbound) else new_request_id()


def served_over_tls(scope: Scope, trusted: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    """Whether the request came over TLS: the socket's, or a trusted proxy's
    ``X-Forwarded-Proto: https`` (its last value)."""
    if scope.get("scheme") == "https":
        return True
    if not trusted or not scope.get("client"):
        return False
    proto = (request_header(scope, b"x-forwarded-proto") or "").split(",")[-1].strip()
    return proto == "https" and is_trusted(scope["client"][0], trusted)

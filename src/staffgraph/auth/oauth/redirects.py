"""Which frontend URLs an OAuth sign-in may return to (``OAUTH_REDIRECT_ALLOWLIST``).

A candidate is compared with each allowed prefix part by part, never as a string prefix, so
``https://app.example.com.evil.com``, ``https://app.example.com@evil.com``, ``//evil.com`` and
backslash tricks are refused. Anything a browser could read differently from :mod:`urllib`
(controls, spaces, backslashes, non-ASCII, dot segments, encoded slashes) is refused outright
rather than normalised.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

MAX_REDIRECT_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: query parameters the callback sets itself; a redirect_to carrying them has them replaced
_CALLBACK_PARAMS = frozenset({"code", "error", "state"})


@dataclass(frozen=True, slots=True)
class AllowedPrefix:
    """One allow-list entry: exact scheme, host and port; a path prefix at a segment boundary
    (or, with ``exact``, that path alone)."""

    scheme: str
    host: str
    port: int
    path: str
    exact: bool = False

    def matches(self, scheme: str, host: str, port: int, path: str) -> bool:
        """Whether a (validated) URL's parts fall under this entry."""
        if (scheme, host, port) != (self.scheme, self.host, self.port):
            return False
        if self.exact:
            return path == self.path
        if self.path.endswith("/"):
            return path.startswith(self.path)
        return path == self.path or path.startswith(self.path + "/")


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP address (plain http stays allowed there)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_allowed_prefix(entry: str) -> AllowedPrefix:
    """Parse an allow-list entry, raising ``ValueError`` saying what is wrong with it."""
    parts = _split_strict(entry)
    if parts is None:
        raise ValueError(f"{entry!r} is not an absolute http(s) URL")
    scheme, host, port, path, query, fragment = parts
    if query or fragment:
        raise ValueError(f"{entry!r} must not have a query or fragment")
    return AllowedPrefix(scheme, host, port, path or "/")


class RedirectAllowList:
    """The parsed ``OAUTH_REDIRECT_ALLOWLIST``, plus ``pages`` allowed by exact path (the
    server's own GraphiQL page)."""

    def __init__(self, entries: list[str], pages: tuple[str, ...] = ()) -> None:
        self.prefixes = tuple(parse_allowed_prefix(e) for e in entries) + tuple(
            dataclasses.replace(parse_allowed_prefix(page), exact=True) for page in pages
        )

    def allows(self, url: object) -> bool:
        """Whether ``url`` is an allowed frontend URL to send a browser to."""
        if not isinstance(url, str):
            return False
        parts = _split_strict(url)
        if parts is None:
            return False
        scheme, host, port, path, _query, fragment = parts
        if fragment:
            return False
        return any(p.matches(scheme, host, port, path or "/") for p in self.prefixes)


def with_params(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its query (replacing any callback parameter it had)."""
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in _CALLBACK_PARAMS and k not in params
    ]
    query.extend(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _split_strict(url: str) -> tuple[str, str, int, str, str, str] | None:
    """(scheme, host, port, path, query, fragment) of an unambiguous absolute URL, else None."""
    if not url or len(url) > MAX_REDIRECT_LENGTH:
        return None
    # printable ASCII without space or backslash: browsers and urllib then agree on the parts
    if any(not ("!" <= ch <= "~") or ch == "\\" for ch in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    port = port if port is not None else _DEFAULT_PORTS[scheme]
    shown_host = f"[{host}]" if ":" in host else host
    if parts.netloc.lower() not in {shown_host, f"{shown_host}:{port}"}:
        return None  # an empty port ("host:"), a leading zero or other oddities
    if not _plain_path(parts.path):
        return None
    return scheme, host, port, parts.path, parts.query, parts.fragment


def _plain_path(path: str) -> bool:
    """No dot segments, empty segments or encoded separators a browser would resolve."""
    if path and not path.startswith("/"):
        return False
    decoded = unquote(path)
    if "\\" in decoded or "//" in decoded or decoded.count("/") != path.count("/"):
        return False
    return not any(segment in {".", ".."} for segment in decoded.split("/"))

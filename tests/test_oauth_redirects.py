"""The ``OAUTH_REDIRECT_ALLOWLIST`` check: exact origin, path prefix at a segment boundary."""

from __future__ import annotations

import pytest

from staffgraph.auth.oauth.redirects import RedirectAllowList, with_params

ALLOWED = RedirectAllowList(
    ["https://app.example.com/auth", "http://localhost:5173/", "https://[::1]:8443/cb"]
)


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/auth",
        "https://app.example.com/auth/",
        "https://app.example.com/auth/done?next=%2Fhome",
        "https://APP.example.com/auth",
        "HTTPS://app.example.com/auth",
        "https://app.example.com:443/auth",
        "http://localhost:5173/",
        "http://localhost:5173/anything/below",
        "http://localhost:5173",
        "https://[::1]:8443/cb",
    ],
)
def test_allowed(url):
    assert ALLOWED.allows(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com.evil.com/auth",
        "https://app.example.com@evil.com/auth",
        "https://user:pw@app.example.com/auth",
        "https://evil.com#@app.example.com/auth",
        "https://evil.com?@app.example.com/auth",
        "//evil.com/auth",
        "//app.example.com/auth",
        "/auth",
        "https:/app.example.com/auth",
        "https:app.example.com/auth",
        "https://app.example.com\\@evil.com/auth",
        "https:\\\\evil.com/auth",
        "https://app.example.com\\auth",
        "https://app.example.com/authx",
        "https://app.example.com/au",
        "https://app.example.com/",
        "https://app.example.com/auth/../admin",
        "https://app.example.com/auth/%2e%2e/admin",
        "https://app.example.com/auth%2f..%2fadmin",
        "https://app.example.com/auth//evil.com",
        "https://app.example.com/auth#fragment",
        "https://app.example.com:8443/auth",
        "https://app.example.com:/auth",
        "https://app.example.com:0443/auth",
        "https://app.example.com:abc/auth",
        "http://app.example.com/auth",
        "ftp://app.example.com/auth",
        "javascript://app.example.com/auth",
        "https://app.example.com/auth\n.evil.com",
        "https://app.example.com/auth evil",
        "https://app.exam\u0440le.com/auth",
        "https://app.example.com./auth",
        "https://app%2eexample.com/auth",
        "http://localhost:5174/",
        "http://127.0.0.1:5173/",
        "https://app.example.com/auth?" + "x" * 3000,
        "",
        None,
        42,
    ],
)
def test_refused(url):
    assert not ALLOWED.allows(url)


def test_prefix_without_trailing_slash_stops_at_segment_boundary():
    exact = RedirectAllowList(["https://app.example.com/a/b"])
    assert exact.allows("https://app.example.com/a/b/c")
    assert not exact.allows("https://app.example.com/a/bc")


@pytest.mark.parametrize(
    "entry",
    ["app.example.com", "https://", "https://app.example.com/?x=1", "ftp://x", "https://a/#f"],
)
def test_bad_entries_are_rejected(entry):
    with pytest.raises(ValueError, match=r"URL|query"):
        RedirectAllowList([entry])


def test_with_params_replaces_callback_parameters():
    url = with_params("https://app.example.com/auth?tab=1&code=old&error=x", {"code": "new"})
    assert url == "https://app.example.com/auth?tab=1&code=new"

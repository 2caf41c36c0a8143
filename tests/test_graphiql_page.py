"""GraphiQL's page and assets over HTTP: everything from this server, pinned, cacheable.

The browser tests (tests/test_graphiql_browser.py) show the page working; these check what a
browser is told: the tags, their integrity, the CSP, the cache headers, the manifest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from staffgraph.app import create_app
from staffgraph.auth.oauth.redirects import RedirectAllowList
from staffgraph.http.graphiql import render_page
from staffgraph.http.graphiql_assets import VENDOR_DIR, integrity_of, load_assets
from tests.conftest import test_settings as settings_for_tests

HTML = {"Accept": "text/html"}
TAG = re.compile(r"<(script|link)\b[^>]*>")
URL_IN_TEXT = re.compile(rb"""url\(\s*['"]?(?!data:)([^'")]+)""")


async def page_of(client: httpx.AsyncClient) -> httpx.Response:
    response = await client.get("/graphql", headers=HTML)
    assert response.status_code == 200
    return response


def referenced(html: str) -> list[tuple[str, str]]:
    """(URL, integrity) of every script and stylesheet tag of the page."""
    found = []
    for match in TAG.finditer(html):
        tag = match.group(0)
        if 'type="application/json"' in tag or 'rel="icon"' in tag:  # no fetch
            continue
        url = re.search(r'(?:src|href)="([^"]+)"', tag)
        integrity = re.search(r'integrity="([^"]+)"', tag)
        assert url is not None, tag
        assert integrity is not None, tag
        found.append((url.group(1), integrity.group(1)))
    return found


async def test_every_tag_names_a_local_asset_with_its_integrity(
    client: httpx.AsyncClient,
) -> None:
    page = await page_of(client)
    tags = referenced(page.text)
    assert len(tags) == len(load_assets().assets) == 8
    for url, integrity in tags:
        assert url.startswith("/graphql/assets/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert integrity == integrity_of(asset.content)
        kind = "text/css" if url.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(kind)
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    # nothing anywhere in the page names another host
    assert "http://" not in page.text
    assert "https://" not in page.text


async def test_the_policy_allows_this_origin_only(client: httpx.AsyncClient) -> None:
    page = await page_of(client)
    csp = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    nonce = re.search(r"'nonce-([^']+)'", csp["script-src"])
    assert nonce is not None
    assert csp["script-src"] == f"'self' 'nonce-{nonce.group(1)}'"
    assert csp["style-src"] == f"'self' 'nonce-{nonce.group(1)}'"
    assert csp["connect-src"] == "'self'"
    assert csp["default-src"] == "'none'"
    assert "unsafe" not in page.headers["content-security-policy"]
    assert "http" not in page.headers["content-security-policy"]
    for match in TAG.finditer(page.text):
        if "icon" not in match.group(0):
            assert f'nonce="{nonce.group(1)}"' in match.group(0)


async def test_assets_are_compressed_when_asked(client: httpx.AsyncClient) -> None:
    name = "/graphql/assets/vendor/graphiql@3.8.3/graphiql.min.js"
    plain = await client.get(name, headers={"Accept-Encoding": "identity"})
    packed = await client.get(name, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(plain.content) / 3
    assert packed.content == plain.content  # httpx decoded it
    assert plain.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize(
    "name",
    [
        "/graphql/assets/panel.js",  # the own files only under their hashed names
        "/graphql/assets/vendor/manifest.json",
        "/graphql/assets/vendor/graphiql@3.8.3/LICENSE",
        "/graphql/assets/../settings.py",
        "/graphql/assets/vendor/graphiql@3.8.3/graphiql.js",
    ],
)
async def test_unknown_assets_are_404(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(name)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")


async def test_no_page_and_no_assets_when_graphiql_is_off(database_url: str, db: Any) -> None:
    app = create_app(
        settings_for_tests(database_url=database_url, graphiql=False), manage_orm=False
    )
    await app.state.services.start()
    try:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/graphql", headers=HTML)).status_code == 405
            asset = load_assets().assets[0]
            assert (await client.get(asset.url)).status_code == 404
    finally:
        await app.state.services.stop()


def test_the_manifest_matches_the_vendored_files() -> None:
    manifest = json.loads((VENDOR_DIR / "manifest.json").read_text())
    versions = {(p["name"], p["version"]) for p in manifest["packages"]}
    assert versions == {
        ("react", "18.2.0"),
        ("react-dom", "18.2.0"),
        ("graphiql", "3.8.3"),
        ("@graphiql/plugin-explorer", "1.0.2"),
    }
    for entry in manifest["files"]:
        data = (VENDOR_DIR / entry["path"]).read_bytes()
        assert integrity_of(data) == entry["integrity"], entry["path"]
        assert len(data) == entry["size"]
        assert (VENDOR_DIR / entry["path"]).parent.joinpath("LICENSE").is_file()


def test_the_vendored_files_load_nothing_from_elsewhere() -> None:
    """Stylesheets embed their fonts and images; no file imports another stylesheet or
    script by URL (links in comments and error messages are never fetched)."""
    for path in VENDOR_DIR.rglob("*.css"):
        data = path.read_bytes()
        assert URL_IN_TEXT.findall(data) == [], path
        assert b"@import" not in data, path
    for path in VENDOR_DIR.rglob("*.js"):
        data = path.read_bytes()
        assert not re.search(rb"""(?:import\(|importScripts\(|\.src\s*=\s*)["']https?:""", data)


def test_the_configuration_block_cannot_be_closed_by_its_content() -> None:
    html = render_page({"endpoint": "/graphql", "providers": [], "x": "</script><b>"}, "n")
    block = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)
    assert block is not None
    assert json.loads(block.group(1))["x"] == "</script><b>"
    assert "<b>" not in html


def test_graphiql_own_page_is_an_exact_redirect_target() -> None:
    allowed = RedirectAllowList([], ("http://127.0.0.1:8000/graphql",))
    assert allowed.allows("http://127.0.0.1:8000/graphql")
    assert allowed.allows("http://127.0.0.1:8000/graphql?tab=2")
    for other in (
        "http://127.0.0.1:8000/graphql/assets/x.js",
        "http://127.0.0.1:8000/graphqlx",
        "http://127.0.0.1:8000/",
        "http://127.0.0.1:8001/graphql",
        "https://127.0.0.1:8000/graphql",
    ):
        assert not allowed.allows(other), other


def test_graphiql_own_page_is_allowed_only_when_graphiql_is_on() -> None:
    from staffgraph.auth.oauth.config import load_oauth_config

    environ = {
        "STAFFGRAPH_OAUTH_C_ISSUER": "https://idp.example",
        "STAFFGRAPH_OAUTH_C_CLIENT_ID": "x",
        "STAFFGRAPH_OAUTH_C_CLIENT_SECRET": "y",
    }
    base: dict[str, Any] = {
        "database_url": "sqlite://:memory:",
        "oauth_providers": [],
        "public_url": "https://staff.example.com",
    }
    on = load_oauth_config(
        settings_for_tests(**base, graphiql=True), environ=environ, env_file=None
    )
    assert on.redirects.allows("https://staff.example.com/graphql")
    off = load_oauth_config(
        settings_for_tests(**base, graphiql=False), environ=environ, env_file=None
    )
    assert not off.redirects.allows("https://staff.example.com/graphql")


def test_the_package_data_ships_every_graphiql_file() -> None:
    """``pip install .`` installs what the page loads: pyproject's package-data patterns cover
    every file under ``staffgraph/graphiql/``."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    package = root / "src" / "staffgraph"
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["staffgraph"]
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    present = {path for path in (package / "graphiql").rglob("*") if path.is_file()}
    assert present, "no GraphiQL files"
    assert present <= shipped, sorted(str(p) for p in present - shipped)

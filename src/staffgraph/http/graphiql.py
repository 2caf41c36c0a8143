"""The GraphiQL page (``GET /graphql``), its configuration block and its Content-Security-Policy.

Everything the page loads comes from this server (:mod:`staffgraph.http.graphiql_assets`), so
the policy names no other host: scripts and styles from ``'self'`` (each tag also carries the
page's nonce and its integrity hash), fonts and images from ``data:`` URLs inside GraphiQL's
stylesheet, connections (HTTP and WebSocket) to this origin only. No inline script runs; the
page's configuration is a ``<script type="application/json">`` block, which browsers never
execute.
"""

from __future__ import annotations

import functools
import html
import json
import secrets
from typing import Any

from starlette.responses import HTMLResponse

from staffgraph.http.graphiql_assets import ASSET_DIR, Asset, load_assets

GRAPHIQL_CSP = (
    "default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
    "font-src data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
GRAPHQL_PATH = "/graphql"


def page_config(oauth_providers: list[str]) -> dict[str, Any]:
    """What the page's script needs: the endpoint and one entry per OAuth provider."""
    providers = [name.lower() for name in oauth_providers]
    return {
        "endpoint": GRAPHQL_PATH,
        "providers": [
            {"name": name, "label": name, "authorizeUrl": f"/auth/oauth/{name}/authorize"}
            for name in providers
        ],
    }


def _tag(asset: Asset, nonce: str) -> str:
    common = f'integrity="{asset.integrity}" nonce="{nonce}"'
    if asset.name.endswith(".css"):
        return f'<link rel="stylesheet" href="{html.escape(asset.url)}" {common} />'
    return f'<script src="{html.escape(asset.url)}" {common}></script>'


@functools.cache
def _template() -> str:
    return (ASSET_DIR / "page.html").read_text(encoding="utf-8")


def render_page(config: dict[str, Any], nonce: str) -> str:
    """The page's HTML with its asset tags, nonce and configuration filled in."""
    assets = load_assets()
    template = _template()
    # "<" escaped: the JSON can never close its <script> block
    config_json = json.dumps(config, separators=(",", ":")).replace("<", "\\u003c")
    return (
        template.replace(
            "<!--styles-->", "\n    ".join(_tag(a, nonce) for a in assets.of_type(".css"))
        )
        .replace("<!--scripts-->", "\n    ".join(_tag(a, nonce) for a in assets.of_type(".js")))
        .replace("<!--config-->", config_json)
        .replace("<!--nonce-->", nonce)
    )


def graphiql_response(config: dict[str, Any]) -> HTMLResponse:
    """The GraphiQL page with a fresh nonce on its tags and the matching CSP."""
    nonce = secrets.token_urlsafe(18)
    return HTMLResponse(
        render_page(config, nonce),
        headers={"Content-Security-Policy": GRAPHIQL_CSP.format(nonce=nonce)},
    )

"""The GraphiQL page's response and its Content-Security-Policy."""

from __future__ import annotations

import re
import secrets

from starlette.responses import HTMLResponse

#: GraphiQL: scripts and styles from unpkg (pinned with SRI in the page) and the page's own
#: inline ones by nonce; it talks only to this origin (HTTP and WebSocket)
GRAPHIQL_CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}' https://unpkg.com; "
    "style-src 'nonce-{nonce}' https://unpkg.com; font-src https://unpkg.com data:; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_NONCE_TAGS = re.compile(r"<(script|style|link)\b")


def graphiql_response(html: str) -> HTMLResponse:
    """The GraphiQL page with a fresh nonce on its tags and the matching CSP."""
    nonce = secrets.token_urlsafe(18)
    page = _NONCE_TAGS.sub(lambda m: f'<{m.group(1)} nonce="{nonce}"', html)
    return HTMLResponse(page, headers={"Content-Security-Policy": GRAPHIQL_CSP.format(nonce=nonce)})

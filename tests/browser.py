"""Debian's Chromium, headless, driven through Playwright for Python, for the GraphiQL tests.

:func:`chromium` starts one browser (a fresh profile in a temp dir, every background service
off, so the only traffic is what the page itself asks for). :class:`WatchedPage` records every
request URL, console error, uncaught exception and Content-Security-Policy violation of a page,
so a test can assert that none happened. :func:`skip_without_chromium` skips a module with a
clear reason when the binary is absent (``apt-get install chromium`` provides it).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: turns each CSP violation into a console error the page listener records
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


def skip_without_chromium() -> None:
    """Skip the calling module unless Chromium and Playwright are installed."""
    if shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium with a fresh user-data dir, closed (and its profile removed) after."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=shutil.which("chromium"),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 860},
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class WatchedPage:
    """A page whose requests, console errors and exceptions are recorded."""

    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, context: Any) -> WatchedPage:
        """A new tab of ``context`` with the recorders attached."""
        page = context.new_page()
        watched = cls(page)
        page.add_init_script(_REPORT_CSP_VIOLATIONS)
        page.on("request", lambda request: watched.requests.append(request.url))
        page.on(
            "console",
            lambda message: (
                watched.errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: watched.errors.append(f"uncaught: {error}"))
        return watched

    def local_storage(self) -> dict[str, str]:
        """Everything in the page's localStorage."""
        items: dict[str, str] = self.page.evaluate("({...window.localStorage})")
        return items

    def session_storage(self) -> dict[str, str]:
        """Everything in the page's sessionStorage."""
        items: dict[str, str] = self.page.evaluate("({...window.sessionStorage})")
        return items

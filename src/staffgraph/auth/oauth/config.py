"""OAuth provider configurations, parsed from the dynamic ``STAFFGRAPH_OAUTH_<NAME>_*`` variables.

``OAUTH_PROVIDERS`` names the providers; each has ``_KIND`` (``oidc`` or ``github``), ``_ISSUER``,
``_CLIENT_ID``, ``_CLIENT_SECRET`` and ``_SCOPES``, read from the environment and the ``.env``
file (the environment wins), case-insensitively like every other setting.

Production refuses plain-http issuers, ``PUBLIC_URL`` and allow-list entries, except on a
loopback host (a provider on the same machine, which no network attacker sits between).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values

from staffgraph.auth.oauth.redirects import RedirectAllowList, is_loopback_host
from staffgraph.settings import SettingsError

if TYPE_CHECKING:
    from staffgraph.settings import Settings

ProviderKind = Literal["oidc", "github"]
GITHUB_COM = "https://github.com"
DEFAULT_SCOPES: dict[ProviderKind, str] = {
    "oidc": "openid email profile",
    "github": "read:user user:email",
}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One configured provider; ``name`` is its path segment in the OAuth routes."""

    name: str
    kind: ProviderKind
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]

    @property
    def discovery_url(self) -> str:
        """Where an OpenID provider publishes its metadata."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def github_api_url(self) -> str:
        """The REST API root: api.github.com, or ``/api/v3`` below a GitHub Enterprise host."""
        base = self.issuer.rstrip("/")
        return "https://api.github.com/" if base == GITHUB_COM else base + "/api/v3/"


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    """Everything the OAuth routes need from the settings."""

    providers: dict[str, ProviderConfig]
    redirects: RedirectAllowList
    public_url: str | None
    link_by_email: bool
    auto_provision: bool

    def callback_url(self, provider: str, request_base_url: str) -> str:
        """The redirect URI registered at the provider: ``{PUBLIC_URL}/auth/oauth/{name}/callback``.

        Without ``PUBLIC_URL`` (development only) the request's own base URL stands in.
        """
        base = (self.public_url or request_base_url).rstrip("/")
        return f"{base}/auth/oauth/{provider}/callback"


def load_oauth_config(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
) -> OAuthConfig:
    """Parse and check the OAuth settings, raising :class:`SettingsError` with one line per problem.

    ``environ`` defaults to ``os.environ`` over the values of ``env_file``.
    """
    values = _environment(environ, env_file)
    problems: list[str] = []
    production = settings.is_production
    providers: dict[str, ProviderConfig] = {}
    seen: set[str] = set()
    for raw_name in settings.oauth_providers:
        name = raw_name.lower()
        if not _NAME_RE.match(name):
            problems.append(
                f"STAFFGRAPH_OAUTH_PROVIDERS: {raw_name!r} is not a valid provider name "
                "(a letter, then letters, digits or '_', at most 32)"
            )
            continue
        if name in seen:
            problems.append(f"STAFFGRAPH_OAUTH_PROVIDERS: {raw_name!r} is named twice")
            continue
        seen.add(name)
        provider = _provider(name, values, production, problems)
        if provider is not None:
            providers[name] = provider

    public_url = settings.public_url
    public_problem = _url_problem(public_url, production) if public_url is not None else None
    graphiql_page: tuple[str, ...] = ()
    if public_url is not None and public_problem is None and settings.graphiql:
        # GraphiQL's own page may always be returned to: the code lands on a page of this
        # server, which exchanges it at once, so no allow-list needs to name it
        graphiql_page = (public_url.rstrip("/") + "/graphql",)

    redirects = RedirectAllowList([], graphiql_page)
    try:
        listed = RedirectAllowList(settings.oauth_redirect_allowlist)
    except ValueError as exc:
        problems.append(f"STAFFGRAPH_OAUTH_REDIRECT_ALLOWLIST: {exc}")
    else:
        redirects = RedirectAllowList(settings.oauth_redirect_allowlist, graphiql_page)
        if providers and not redirects.prefixes:
            problems.append(
                "STAFFGRAPH_OAUTH_REDIRECT_ALLOWLIST is empty: name the frontend URLs "
                "a sign-in may return to"
            )
        if production:
            for prefix in listed.prefixes:
                if prefix.scheme != "https" and not is_loopback_host(prefix.host):
                    problems.append(
                        f"STAFFGRAPH_OAUTH_REDIRECT_ALLOWLIST: {prefix.host} must use https"
                    )

    if public_problem:
        problems.append(f"STAFFGRAPH_PUBLIC_URL {public_problem}")
    elif public_url is None and production and providers:
        problems.append(
            "STAFFGRAPH_PUBLIC_URL is not set: OAuth callbacks need the externally visible URL"
        )

    if problems:
        raise SettingsError(problems)
    return OAuthConfig(
        providers=providers,
        redirects=redirects,
        public_url=public_url,
        link_by_email=settings.oauth_link_by_email,
        auto_provision=settings.oauth_auto_provision,
    )


def _provider(
    name: str, values: Mapping[str, str], production: bool, problems: list[str]
) -> ProviderConfig | None:
    prefix = f"STAFFGRAPH_OAUTH_{name.upper()}_"
    before = len(problems)

    kind = values.get(prefix + "KIND", "oidc").strip().lower()
    if kind not in DEFAULT_SCOPES:
        problems.append(f"{prefix}KIND must be 'oidc' or 'github', not {kind!r}")
        return None
    typed_kind: ProviderKind = "github" if kind == "github" else "oidc"

    issuer = values.get(prefix + "ISSUER", "").strip()
    if not issuer:
        if typed_kind == "github":
            issuer = GITHUB_COM
        else:
            problems.append(f"{prefix}ISSUER is not set (the OpenID provider's issuer URL)")
    if issuer:
        problem = _url_problem(issuer, production)
        if problem:
            problems.append(f"{prefix}ISSUER {problem}")

    client_id = values.get(prefix + "CLIENT_ID", "").strip()
    if not client_id:
        problems.append(f"{prefix}CLIENT_ID is not set")
    client_secret = values.get(prefix + "CLIENT_SECRET", "").strip()
    if not client_secret:
        problems.append(f"{prefix}CLIENT_SECRET is not set")

    scopes = tuple(values.get(prefix + "SCOPES", "").split()) or tuple(
        DEFAULT_SCOPES[typed_kind].split()
    )
    if typed_kind == "oidc" and "openid" not in scopes:
        problems.append(f"{prefix}SCOPES must include 'openid' for an OpenID Connect provider")

    if len(problems) > before:
        return None
    return ProviderConfig(name, typed_kind, issuer, client_id, client_secret, scopes)


def _url_problem(url: str, production: bool) -> str | None:
    """Why ``url`` cannot be an issuer or public base URL, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        return f"is not a valid URL: {url!r}"
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return f"must be an absolute http(s) URL, not {url!r}"
    if parts.username is not None or parts.query or parts.fragment:
        return f"must not carry credentials, a query or a fragment: {url!r}"
    if production and parts.scheme != "https" and not is_loopback_host(parts.hostname):
        return f"must use https in production: {url!r}"
    return None


def _environment(environ: Mapping[str, str] | None, env_file: str | Path | None) -> dict[str, str]:
    """Upper-cased variable names to values: the environment over the ``.env`` file."""
    merged: dict[str, str] = {}
    if environ is None:
        if env_file is not None and Path(env_file).is_file():
            merged.update(
                {k.upper(): v for k, v in dotenv_values(env_file).items() if v is not None}
            )
        environ = os.environ
    merged.update({k.upper(): v for k, v in environ.items()})
    return merged

"""Parsing the dynamic ``STAFFGRAPH_OAUTH_<NAME>_*`` variables into provider configs."""

from __future__ import annotations

import pytest

from staffgraph.auth.oauth.config import load_oauth_config
from staffgraph.auth.oauth.state import MemoryStateStore
from staffgraph.configuration import load_configuration
from staffgraph.settings import Settings, SettingsError

JWT_SECRET = "s" * 48


def _settings(**values: object) -> Settings:
    base: dict[str, object] = {
        "_env_file": None,
        "jwt_secret": JWT_SECRET,
        "oauth_redirect_allowlist": ["https://app.example.com/"],
    }
    return Settings(**(base | values))  # type: ignore[arg-type]


def _problems(settings: Settings, environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load_oauth_config(settings, environ=environ, env_file=None)
    return info.value.problems


def test_oidc_and_github_side_by_side():
    config = load_oauth_config(
        _settings(oauth_providers=["Corp", "okta", "github"]),
        environ={
            "STAFFGRAPH_OAUTH_CORP_ISSUER": "https://login.corp.example/realms/staff",
            "STAFFGRAPH_OAUTH_CORP_CLIENT_ID": "cid",
            "STAFFGRAPH_OAUTH_CORP_CLIENT_SECRET": "secret",
            "staffgraph_oauth_okta_issuer": "https://corp.okta.example",
            "staffgraph_oauth_okta_client_id": "okta",
            "staffgraph_oauth_okta_client_secret": "s",
            "STAFFGRAPH_OAUTH_OKTA_SCOPES": "openid email",
            "STAFFGRAPH_OAUTH_GITHUB_KIND": "github",
            "STAFFGRAPH_OAUTH_GITHUB_CLIENT_ID": "gh",
            "STAFFGRAPH_OAUTH_GITHUB_CLIENT_SECRET": "ghs",
        },
        env_file=None,
    )
    corp, okta, github = (
        config.providers["corp"],
        config.providers["okta"],
        config.providers["github"],
    )
    assert corp.kind == "oidc"
    assert corp.scopes == ("openid", "email", "profile")
    assert corp.discovery_url == (
        "https://login.corp.example/realms/staff/.well-known/openid-configuration"
    )
    assert okta.scopes == ("openid", "email")
    assert github.kind == "github"
    assert github.issuer == "https://github.com"
    assert github.github_api_url == "https://api.github.com/"
    assert github.scopes == ("read:user", "user:email")
    assert "ghs" not in repr(github)  # secrets stay out of logs


def test_github_enterprise_api_below_its_host():
    config = load_oauth_config(
        _settings(oauth_providers=["ghe"]),
        environ={
            "STAFFGRAPH_OAUTH_GHE_KIND": "github",
            "STAFFGRAPH_OAUTH_GHE_ISSUER": "https://github.corp.example",
            "STAFFGRAPH_OAUTH_GHE_CLIENT_ID": "a",
            "STAFFGRAPH_OAUTH_GHE_CLIENT_SECRET": "b",
        },
        env_file=None,
    )
    assert config.providers["ghe"].github_api_url == "https://github.corp.example/api/v3/"


def test_missing_variables_each_get_a_line():
    problems = _problems(
        _settings(oauth_providers=["corp", "gh"]), {"STAFFGRAPH_OAUTH_GH_KIND": "github"}
    )
    assert problems == [
        "STAFFGRAPH_OAUTH_CORP_ISSUER is not set (the OpenID provider's issuer URL)",
        "STAFFGRAPH_OAUTH_CORP_CLIENT_ID is not set",
        "STAFFGRAPH_OAUTH_CORP_CLIENT_SECRET is not set",
        "STAFFGRAPH_OAUTH_GH_CLIENT_ID is not set",
        "STAFFGRAPH_OAUTH_GH_CLIENT_SECRET is not set",
    ]


def test_bad_values_are_named():
    environ = {
        "STAFFGRAPH_OAUTH_A_KIND": "saml",
        "STAFFGRAPH_OAUTH_B_ISSUER": "login.example.com",
        "STAFFGRAPH_OAUTH_B_CLIENT_ID": "x",
        "STAFFGRAPH_OAUTH_B_CLIENT_SECRET": "y",
        "STAFFGRAPH_OAUTH_B_SCOPES": "email profile",
    }
    problems = _problems(
        _settings(oauth_providers=["a", "b", "b", "no-dash"], public_url="ftp://x"), environ
    )
    assert "STAFFGRAPH_OAUTH_A_KIND must be 'oidc' or 'github', not 'saml'" in problems
    assert any(p.startswith("STAFFGRAPH_OAUTH_B_ISSUER must be an absolute") for p in problems)
    assert any("STAFFGRAPH_OAUTH_B_SCOPES must include 'openid'" in p for p in problems)
    assert "STAFFGRAPH_OAUTH_PROVIDERS: 'b' is named twice" in problems
    assert sum(p.startswith("STAFFGRAPH_OAUTH_B_SCOPES") for p in problems) == 1
    assert any("'no-dash' is not a valid provider name" in p for p in problems)
    assert any(p.startswith("STAFFGRAPH_PUBLIC_URL must be an absolute") for p in problems)


def test_allow_list_must_exist_and_parse():
    environ = {
        "STAFFGRAPH_OAUTH_C_ISSUER": "https://idp.example",
        "STAFFGRAPH_OAUTH_C_CLIENT_ID": "x",
        "STAFFGRAPH_OAUTH_C_CLIENT_SECRET": "y",
    }
    empty = _problems(_settings(oauth_providers=["c"], oauth_redirect_allowlist=[]), environ)
    assert empty == [
        "STAFFGRAPH_OAUTH_REDIRECT_ALLOWLIST is empty: name the frontend URLs "
        "a sign-in may return to"
    ]
    bad = _problems(_settings(oauth_redirect_allowlist=["app.example.com"]), {})
    assert bad == [
        "STAFFGRAPH_OAUTH_REDIRECT_ALLOWLIST: 'app.example.com' is not an absolute http(s) URL"
    ]


def test_production_requires_https_except_on_loopback():
    environ = {
        "STAFFGRAPH_OAUTH_EXT_ISSUER": "http://idp.example.com",
        "STAFFGRAPH_OAUTH_EXT_CLIENT_ID": "x",
        "STAFFGRAPH_OAUTH_EXT_CLIENT_SECRET": "y",
        "STAFFGRAPH_OAUTH_LOCAL_ISSUER": "http://127.0.0.1:8080/realms/x",
        "STAFFGRAPH_OAUTH_LOCAL_CLIENT_ID": "x",
        "STAFFGRAPH_OAUTH_LOCAL_CLIENT_SECRET": "y",
    }
    production = _settings(
        env="production",
        oauth_providers=["ext", "local"],
        oauth_redirect_allowlist=["http://app.example.com/", "http://localhost:3000/"],
    )
    problems = _problems(production, environ)
    assert problems == [
        "STAFFGRAPH_OAUTH_EXT_ISSUER must use https in production: 'http://idp.example.com'",
        "STAFFGRAPH_OAUTH_REDIRECT_ALLOWLIST: app.example.com must use https",
        "STAFFGRAPH_PUBLIC_URL is not set: OAuth callbacks need the externally visible URL",
    ]
    # development takes plain http anywhere
    development = _settings(oauth_providers=["ext", "local"])
    assert set(load_oauth_config(development, environ, env_file=None).providers) == {"ext", "local"}


def test_env_file_is_read_and_the_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "STAFFGRAPH_OAUTH_CORP_ISSUER=https://from-file.example\n"
        "STAFFGRAPH_OAUTH_CORP_CLIENT_ID=file-id\n"
        "STAFFGRAPH_OAUTH_CORP_CLIENT_SECRET=file-secret\n"
    )
    monkeypatch.setenv("STAFFGRAPH_OAUTH_CORP_CLIENT_ID", "env-id")
    config = load_oauth_config(_settings(oauth_providers=["corp"]), env_file=env_file)
    corp = config.providers["corp"]
    assert (corp.issuer, corp.client_id, corp.client_secret) == (
        "https://from-file.example",
        "env-id",
        "file-secret",
    )


def test_load_configuration_reports_provider_problems(monkeypatch):
    monkeypatch.delenv("STAFFGRAPH_OAUTH_CORP_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("STAFFGRAPH_OAUTH_CORP_ISSUER", "https://idp.example")
    monkeypatch.setenv("STAFFGRAPH_OAUTH_CORP_CLIENT_ID", "x")
    with pytest.raises(SettingsError) as info:
        load_configuration(
            _env_file=None,
            jwt_secret=JWT_SECRET,
            oauth_providers="corp",
            oauth_redirect_allowlist="https://app.example.com/",
        )
    assert info.value.problems == ["STAFFGRAPH_OAUTH_CORP_CLIENT_SECRET is not set"]


async def test_pending_states_are_single_use_and_bounded():
    store = MemoryStateStore(max_entries=3)
    await store.set("a", "1", 600)
    assert await store.get("a") == "1"
    assert await store.get("a") is None
    await store.set("old", "x", -1)  # already expired
    assert await store.get("old") is None
    for key in "bcde":
        await store.set(key, key, 600)
    assert await store.get("b") is None  # the oldest went first
    assert [await store.get(k) for k in "cde"] == ["c", "d", "e"]

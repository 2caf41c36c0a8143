"""Settings: environment defaults, comma lists, and production's refusals naming each variable."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from staffgraph.settings import (
    SettingsError,
    UnsafeSettingsError,
    development_secret,
    load_settings,
)

STRONG_SECRET = "s" * 40


def settings(**values: object):
    """Settings from ``values`` only: no ``.env``, nothing inherited from ``STAFFGRAPH_*``."""
    return load_settings(_env_file=None, **values)


@pytest.fixture(autouse=True)
def _no_inherited_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    monkeypatch.chdir(tmp_path)  # where development keeps its generated secret
    for name in list(os.environ):
        if name.startswith("STAFFGRAPH_"):
            monkeypatch.delenv(name)


def refusal(**values: object) -> list[str]:
    with pytest.raises(UnsafeSettingsError) as caught:
        settings(env="production", **values)
    return caught.value.problems


def test_development_defaults():
    s = settings()
    assert s.env == "development"
    assert s.database_url == "sqlite://staffgraph.db"
    assert s.redis_url is None
    assert s.introspection == "public"
    assert s.graphiql is True
    assert s.auto_migrate is True
    assert s.bcrypt_rounds == 12
    assert (s.access_token_ttl, s.refresh_token_ttl, s.refresh_reuse_interval) == (900, 2592000, 10)
    assert (s.jwt_issuer, s.jwt_audience) == ("staffgraph", "staffgraph")
    assert (s.rate_limit, s.login_rate_limit) == ("300/minute", "10/15 minutes")
    assert s.cors_origins == []
    assert s.trusted_proxies == []
    assert s.oauth_providers == []
    assert (s.oauth_link_by_email, s.oauth_auto_provision) == (True, False)


def test_development_makes_a_secret_once_and_keeps_it(tmp_path: Path):
    first = settings()
    kept = tmp_path / ".staffgraph-secret"
    assert first.jwt_secret
    assert len(first.jwt_secret) >= 32
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert kept.read_text().strip() == first.jwt_secret
    assert settings().jwt_secret == first.jwt_secret  # a restart signs nobody out
    assert sorted(p.name for p in tmp_path.iterdir()) == [".staffgraph-secret"]


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path):
    with ThreadPoolExecutor(8) as pool:
        made = set(pool.map(lambda _: development_secret(tmp_path), range(32)))
    assert len(made) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".staffgraph-secret"]


def test_no_secret_file_when_a_secret_or_key_is_given_or_in_production(tmp_path: Path):
    assert settings(jwt_secret=STRONG_SECRET).jwt_secret == STRONG_SECRET
    refusal()  # production without a secret still refuses to start
    assert not (tmp_path / ".staffgraph-secret").exists()


def test_an_unsafe_secret_file_is_refused_with_what_to_do(tmp_path: Path):
    kept = tmp_path / ".staffgraph-secret"
    kept.write_text("x" * 48)
    kept.chmod(0o644)
    with pytest.raises(SettingsError) as caught:
        settings()
    assert caught.value.problems == [f"{kept} may be read by other users: chmod 600 {kept}"]
    kept.chmod(0o600)
    kept.write_text("short\n")
    with pytest.raises(SettingsError) as caught:
        settings()
    assert "holds less than 32 bytes: delete it" in caught.value.problems[0]


def test_production_defaults():
    s = settings(env="production", jwt_secret=STRONG_SECRET)
    assert s.introspection == "authenticated"
    assert s.graphiql is False
    assert s.auto_migrate is False
    assert s.jwt_secret == STRONG_SECRET


def test_production_keeps_explicit_choices():
    s = settings(
        env="production",
        jwt_secret=STRONG_SECRET,
        introspection="off",
        graphiql=True,
        auto_migrate=True,
    )
    assert (s.introspection, s.graphiql, s.auto_migrate) == ("off", True, True)


def test_production_refuses_a_missing_secret():
    problems = refusal()
    assert len(problems) == 1
    assert "STAFFGRAPH_JWT_SECRET" in problems[0]


def test_production_refuses_a_short_secret():
    problems = refusal(jwt_secret="x" * 31)
    assert problems == ["STAFFGRAPH_JWT_SECRET is shorter than 32 bytes"]


def test_a_secret_of_32_bytes_is_enough():
    assert settings(env="production", jwt_secret="x" * 32).jwt_secret == "x" * 32


def test_production_refuses_cheap_bcrypt():
    problems = refusal(jwt_secret=STRONG_SECRET, bcrypt_rounds=9)
    assert len(problems) == 1
    assert "STAFFGRAPH_BCRYPT_ROUNDS" in problems[0]
    assert settings(env="production", jwt_secret=STRONG_SECRET, bcrypt_rounds=10)


def test_production_refuses_wildcard_cors():
    problems = refusal(jwt_secret=STRONG_SECRET, cors_origins="https://a.example, *")
    assert len(problems) == 1
    assert "STAFFGRAPH_CORS_ORIGINS" in problems[0]


def test_production_names_every_problem_at_once():
    problems = refusal(jwt_secret="short", bcrypt_rounds=4, cors_origins="*")
    named = " ".join(problems)
    assert len(problems) == 3
    for variable in (
        "STAFFGRAPH_JWT_SECRET",
        "STAFFGRAPH_BCRYPT_ROUNDS",
        "STAFFGRAPH_CORS_ORIGINS",
    ):
        assert variable in named


def test_development_accepts_what_production_refuses():
    s = settings(bcrypt_rounds=4, cors_origins="*")
    assert s.bcrypt_rounds == 4
    assert s.cors_origins == ["*"]


def test_a_short_explicit_secret_is_refused_in_development_too():
    with pytest.raises(SettingsError) as caught:
        settings(jwt_secret="short")
    assert "STAFFGRAPH_JWT_SECRET" in caught.value.problems[0]


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STAFFGRAPH_ENV", "production")
    monkeypatch.setenv("STAFFGRAPH_JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("STAFFGRAPH_CORS_ORIGINS", " https://a.example ,https://b.example:8443,")
    monkeypatch.setenv("STAFFGRAPH_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16")
    monkeypatch.setenv("STAFFGRAPH_OAUTH_REDIRECT_ALLOWLIST", "")
    s = settings()
    assert s.is_production
    assert s.cors_origins == ["https://a.example", "https://b.example:8443"]
    assert s.trusted_proxies == ["10.0.0.1", "192.168.0.0/16"]
    assert [str(n) for n in s.trusted_networks] == ["10.0.0.1/32", "192.168.0.0/16"]
    assert s.oauth_redirect_allowlist == []


def test_a_dotenv_file_is_read(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("STAFFGRAPH_BCRYPT_ROUNDS=11\nSTAFFGRAPH_CORS_ORIGINS=https://a.example\n")
    s = load_settings(_env_file=str(env_file))
    assert s.bcrypt_rounds == 11
    assert s.cors_origins == ["https://a.example"]


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"env": "staging"}, "STAFFGRAPH_ENV"),
        ({"database_url": "mysql://x"}, "STAFFGRAPH_DATABASE_URL"),
        ({"access_token_ttl": "soon"}, "STAFFGRAPH_ACCESS_TOKEN_TTL"),
        ({"bcrypt_rounds": 3}, "STAFFGRAPH_BCRYPT_ROUNDS"),
        ({"introspection": "sometimes"}, "STAFFGRAPH_INTROSPECTION"),
        ({"trusted_proxies": "10.0.0.1,not-an-ip"}, "STAFFGRAPH_TRUSTED_PROXIES"),
        ({"rate_limit": "lots"}, "STAFFGRAPH_RATE_LIMIT"),
    ],
)
def test_a_bad_value_names_its_variable(values, variable):
    with pytest.raises(SettingsError) as caught:
        settings(**values)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(variable + ":")


def test_every_bad_variable_is_named_at_once():
    with pytest.raises(SettingsError) as caught:
        settings(env="staging", rate_limit="lots")
    named = " ".join(caught.value.problems)
    assert "STAFFGRAPH_ENV" in named
    assert "STAFFGRAPH_RATE_LIMIT" in named


def test_every_setting_is_documented_in_the_readme():
    from pathlib import Path

    from staffgraph.settings import Settings

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [
        f"STAFFGRAPH_{name.upper()}"
        for name in Settings.model_fields
        if f"`STAFFGRAPH_{name.upper()}`" not in readme
    ]
    assert missing == []

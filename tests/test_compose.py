"""docker-compose.yml and the Dockerfile agree with the code: no Docker engine runs here, so the
files are parsed and the app's environment is loaded through the real settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from staffgraph.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")
SECRET = "compose-test-secret-" + "z" * 40


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``."""

    def replace(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if variables.get(name):
            return variables[name]
        if kind == "?":
            raise LookupError(f"{name}: {rest}")
        return rest if kind == "-" else ""

    return INTERPOLATION.sub(replace, value)


def app_environment(compose: dict[str, Any], variables: dict[str, str]) -> dict[str, str]:
    environment = compose["services"]["app"]["environment"]
    assert isinstance(environment, dict), "use the mapping form: KEY: value"
    return {key: interpolate(str(value), variables) for key, value in environment.items()}


def healthcheck(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def test_four_services(compose):
    assert set(compose["services"]) == {"app", "db", "redis", "prometheus"}


def test_app_waits_for_healthy_database_and_redis(compose):
    depends = compose["services"]["app"]["depends_on"]
    assert depends == {
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


def test_postgres_15_with_a_healthcheck_and_a_named_volume(compose):
    db = compose["services"]["db"]
    assert db["image"].startswith("postgres:15")
    assert "pg_isready" in healthcheck(db)
    volume, _, target = db["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql/data"
    assert volume in compose["volumes"]


def test_redis_with_a_healthcheck(compose):
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:")
    assert "redis-cli ping" in healthcheck(redis)


def test_app_environment_names_only_real_settings(compose):
    names = set(app_environment(compose, {"STAFFGRAPH_JWT_SECRET": SECRET}))
    known = {f"STAFFGRAPH_{field.upper()}" for field in Settings.model_fields}
    assert names - known == set()
    assert {"STAFFGRAPH_ENV", "STAFFGRAPH_DATABASE_URL", "STAFFGRAPH_REDIS_URL"} <= names


def test_the_jwt_secret_must_be_given(compose):
    raw = compose["services"]["app"]["environment"]["STAFFGRAPH_JWT_SECRET"]
    assert raw.startswith("${STAFFGRAPH_JWT_SECRET:?")
    with pytest.raises(LookupError):
        app_environment(compose, {})


def test_app_environment_loads_as_production_settings(compose, monkeypatch):
    for name, value in app_environment(compose, {"STAFFGRAPH_JWT_SECRET": SECRET}).items():
        monkeypatch.setenv(name, value)
    settings = load_settings(_env_file=None)
    assert settings.is_production
    assert settings.auto_migrate is True  # the app migrates on start
    assert settings.jwt_secret == SECRET


def test_app_reaches_the_database_and_redis_services(compose):
    env = app_environment(compose, {"STAFFGRAPH_JWT_SECRET": SECRET})
    database = urlsplit(env["STAFFGRAPH_DATABASE_URL"])
    db_env = {
        key: interpolate(str(value), {})
        for key, value in compose["services"]["db"]["environment"].items()
    }
    assert database.scheme == "postgres"
    assert database.hostname == "db"
    assert database.username == db_env["POSTGRES_USER"]
    assert database.password == db_env["POSTGRES_PASSWORD"]
    assert database.path == "/" + db_env["POSTGRES_DB"]
    assert urlsplit(env["STAFFGRAPH_REDIS_URL"]).hostname == "redis"


def test_the_app_is_built_from_the_dockerfile(compose):
    assert compose["services"]["app"]["build"] in (".", {"context": "."})
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [
        line.strip()
        for line in dockerfile.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert instructions[0] == "FROM python:3.11-slim"
    assert any(re.match(r"RUN .*pip install (--no-deps )?\.( |$)", line) for line in instructions)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")
    cmd = [line for line in instructions if line.startswith("CMD ")][-1]
    assert '"staffgraph", "serve", "--host", "0.0.0.0"' in cmd


def test_the_image_gets_what_pip_install_needs():
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for needed in ("src", "pyproject.toml", "README.md"):
        assert needed not in ignored
    assert ".venv" in ignored
    assert ".git" in ignored


def test_ci_installs_and_tests_exactly_as_the_readme_says():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = re.findall(r"^python3 -m venv \.venv && .*$", readme, re.MULTILINE)
    test_command = next(c for c in commands if "[test]" in c)
    install, _, run = test_command.rpartition(" && ")
    assert test_command == (
        'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest'
    )
    assert f"install() {{ {install}; }}" in ci
    assert f'run_tests() {{ {run} "$@"; }}' in ci
    calls = [line for line in ci.splitlines() if line.strip() == "run_tests"]
    assert len(calls) == 2  # SQLite, then PostgreSQL
    assert ci.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in ci


def test_prometheus_scrapes_the_app_with_the_metrics_token(compose, monkeypatch):
    prometheus = compose["services"]["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    mounts = dict(volume.split(":")[:2] for volume in prometheus["volumes"])
    assert mounts["./deploy/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["prometheus"] == "/prometheus"
    assert "prometheus" in compose["volumes"]
    assert "app" in prometheus["depends_on"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text(encoding="utf-8"))
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    (target,) = job["static_configs"][0]["targets"]
    host, _, port = target.partition(":")
    assert host == "app"
    assert f":{port}" in compose["services"]["app"]["ports"][0]
    # the bearer token is the compose secret made of the app's own METRICS_TOKEN
    assert job["authorization"]["type"] == "Bearer"
    (secret,) = prometheus["secrets"]
    assert job["authorization"]["credentials_file"] == f"/run/secrets/{secret}"
    variable = compose["secrets"][secret]["environment"]
    assert variable == "STAFFGRAPH_METRICS_TOKEN"
    token = "compose-metrics-token-" + "t" * 20
    env = app_environment(compose, {"STAFFGRAPH_JWT_SECRET": SECRET, variable: token})
    assert env[variable] == token
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings(_env_file=None).metrics_token == token


def test_without_a_metrics_token_the_app_still_starts(compose, monkeypatch):
    for name, value in app_environment(compose, {"STAFFGRAPH_JWT_SECRET": SECRET}).items():
        monkeypatch.setenv(name, value)
    assert load_settings(_env_file=None).metrics_token is None

"""The ``staffgraph`` console script, run as a real process.

Each test gets an empty database: a SQLite file, or a new PostgreSQL database when
``STAFFGRAPH_TEST_DATABASE_URL`` is set. Failures must be one line on stderr with exit 2 (bad
arguments or input) or 1 (the database does not answer), never a traceback.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tortoise.context import TortoiseContext
from tortoise.exceptions import OperationalError

from staffgraph.auth.passwords import PasswordHasher
from staffgraph.db import tortoise_config
from staffgraph.models import AuditEvent, Department, User, UserRole
from tests.live_server import free_port, fresh_database, staffgraph_command

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a long enough passphrase"


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """An empty database for this test."""
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def cli(tmp_path: Path, database: str):
    """Run ``staffgraph ARGS`` in an empty directory on this test's database."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()

    def run(*args: str, stdin: str | None = None, **env: str) -> Result:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("STAFFGRAPH_")}
        environ.update(STAFFGRAPH_DATABASE_URL=database, STAFFGRAPH_BCRYPT_ROUNDS="4")
        environ.update(env)
        done = subprocess.run(
            [staffgraph_command(), *args],
            cwd=workdir,
            env=environ,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=60,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    return run


def one_line_error(result: Result, status: int = 2) -> str:
    """The single stderr line of a failed command."""
    assert result.status == status, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("staffgraph: error: ")
    return lines[0]


def in_database(url: str, query: Any) -> Any:
    """Run ``await query()`` with the ORM up on ``url``."""

    async def run() -> Any:
        async with TortoiseContext() as ctx:
            await ctx.init(config=tortoise_config(url))
            return await query()

    return asyncio.run(run())


async def _snapshot() -> dict[str, Any]:
    return {
        "users": sorted(await User.all().values_list("email", flat=True)),
        "departments": sorted(await Department.all().values_list("name", flat=True)),
        "roles": await UserRole.all().count(),
        "audit": await AuditEvent.all().count(),
    }


def create(cli, email: str, *extra: str) -> str:
    result = cli(
        "create-user", "--email", email, "--name", "Someone", "--password", PASSWORD, *extra
    )
    assert result.status == 0, result
    return result.stdout.strip()


def test_create_user_stores_the_user_and_prints_its_id(cli, database):
    boss_id = create(cli, "Boss@Example.com", "--role", "ADMIN")
    result = cli(
        "create-user",
        "--email",
        "grace@example.com",
        "--name",
        "Grace Hopper",
        "--password",
        PASSWORD,
        "--role",
        "MANAGER",
        "--role",
        "HR",
        "--job-title",
        "Rear Admiral",
        "--department",
        "Engineering",
        "--manager",
        "BOSS@example.com",
    )
    assert result.status == 0, result
    user_id = result.stdout.strip()
    assert uuid.UUID(user_id)

    async def stored() -> dict[str, Any]:
        user = await User.get(id=user_id).prefetch_related("department", "manager")
        return {
            "email": user.email,
            "name": user.display_name,
            "title": user.job_title,
            "department": user.department.name if user.department else None,
            "manager": str(user.manager.id) if user.manager else None,
            "manager_email": user.manager.email if user.manager else None,
            "roles": sorted(await UserRole.filter(user=user).values_list("role", flat=True)),
            "hash": user.password_hash,
            "boss_roles": sorted(
                await UserRole.filter(user_id=boss_id).values_list("role", flat=True)
            ),
        }

    row = in_database(database, stored)
    assert row["email"] == "grace@example.com"
    assert row["name"] == "Grace Hopper"
    assert row["title"] == "Rear Admiral"
    assert row["department"] == "Engineering"
    assert (row["manager"], row["manager_email"]) == (boss_id, "boss@example.com")
    assert row["roles"] == ["HR", "MANAGER"]
    assert row["boss_roles"] == ["ADMIN"]
    assert PasswordHasher.verify_sync(PASSWORD, row["hash"])
    assert not PasswordHasher.verify_sync(PASSWORD + "x", row["hash"])


def test_create_user_defaults_to_employee(cli, database):
    user_id = create(cli, "plain@example.com")
    roles = in_database(
        database, lambda: UserRole.filter(user_id=user_id).values_list("role", flat=True)
    )
    assert list(roles) == ["EMPLOYEE"]


def test_an_existing_email_in_any_case_changes_nothing(cli, database):
    create(cli, "ada@example.com", "--department", "Leadership")
    before = in_database(database, _snapshot)
    result = cli(
        "create-user",
        "--email",
        "ADA@Example.COM",
        "--name",
        "Another Ada",
        "--password",
        PASSWORD,
        "--department",
        "A New Department",
    )
    line = one_line_error(result)
    assert "ada@example.com" in line
    assert "exists" in line
    assert result.stdout == ""
    assert in_database(database, _snapshot) == before


def test_password_from_stdin(cli, database):
    result = cli(
        "create-user",
        "--email",
        "stdin@example.com",
        "--name",
        "Stdin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert result.status == 0, result
    password_hash = in_database(
        database,
        lambda: User.get(email="stdin@example.com").values_list("password_hash", flat=True),
    )
    assert PasswordHasher.verify_sync(PASSWORD, password_hash)


def test_password_stdin_without_a_password(cli, database):
    line = one_line_error(
        cli("create-user", "--email", "e@example.com", "--name", "E", "--password-stdin")
    )
    assert "--password-stdin" in line


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((), "command"),
        (("frobnicate",), "frobnicate"),
        (("create-user", "--name", "X", "--password", PASSWORD), "--email"),
        (("create-user", "--email", "x@example.com", "--password", PASSWORD), "--name"),
        (("create-user", "--email", "x@example.com", "--name", "X"), "--password"),
        (
            (
                "create-user",
                "--email",
                "x@example.com",
                "--name",
                "X",
                "--password",
                PASSWORD,
                "--password-stdin",
            ),
            "--password-stdin",
        ),
        (
            (
                "create-user",
                "--email",
                "x@example.com",
                "--name",
                "X",
                "--password",
                PASSWORD,
                "--role",
                "KING",
            ),
            "KING",
        ),
        (
            ("create-user", "--email", "not-an-email", "--name", "X", "--password", PASSWORD),
            "--email",
        ),
        (
            ("create-user", "--email", "x@example.com", "--name", " ", "--password", PASSWORD),
            "--name",
        ),
        (
            ("create-user", "--email", "x@example.com", "--name", "X", "--password", "short"),
            "--password",
        ),
        (
            (
                "create-user",
                "--email",
                "x@example.com",
                "--name",
                "X",
                "--password",
                PASSWORD,
                "--manager",
                "nobody@example.com",
            ),
            "nobody@example.com",
        ),
        (
            (
                "create-user",
                "--email",
                "x@example.com",
                "--name",
                "X",
                "--password",
                PASSWORD,
                "--department",
                "",
            ),
            "--department",
        ),
        (("serve", "--port", "70000"), "--port"),
        (("serve", "--port", "many"), "--port"),
        (("serve", "--workers", "0"), "--workers"),
        (("serve", "--ssl-certfile", "cert.pem"), "--ssl-keyfile"),
        (("migrate", "--now"), "--now"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(cli, database, args, named):
    line = one_line_error(cli(*args))
    assert named in line
    assert in_database(database, _user_count) == 0  # nothing was written either


async def _user_count() -> int:
    """Users stored, 0 when the tables do not even exist."""
    try:
        return await User.all().count()
    except OperationalError:
        return 0


def test_seed_twice(cli, database):
    first = cli("seed")
    assert first.status == 0, first
    assert "ada@example.com" in first.stdout
    after_first = in_database(database, _snapshot)
    assert len(after_first["users"]) >= 5
    assert len(after_first["departments"]) >= 2

    # the printed credentials work
    credentials = [line.split() for line in first.stdout.splitlines() if "@example.com" in line]
    email, password = credentials[0][0], credentials[0][1]
    password_hash = in_database(
        database, lambda: User.get(email=email).values_list("password_hash", flat=True)
    )
    assert PasswordHasher.verify_sync(password, password_hash)

    second = cli("seed")
    assert second.status == 0, second
    assert "nothing changed" in second.stdout
    assert in_database(database, _snapshot) == after_first


def test_seed_after_create_user_adds_the_missing_people(cli, database):
    """The README's order: an admin first, then the demo organisation around them."""
    ada_id = create(cli, "ada@example.com", "--role", "ADMIN")
    seeded = cli("seed")
    assert seeded.status == 0, seeded
    credentials = {
        words[0]: words[1]
        for words in (line.split() for line in seeded.stdout.splitlines())
        if words and words[0].endswith("@example.com")
    }
    assert set(credentials) == {
        "grace@example.com",
        "alan@example.com",
        "katherine@example.com",
        "dennis@example.com",
        "frances@example.com",
    }
    assert "already there, left unchanged: ada@example.com" in seeded.stdout

    async def shape() -> dict[str, Any]:
        ada = await User.get(email="ada@example.com")
        grace = await User.get(email="grace@example.com").prefetch_related("manager")
        engineering = await Department.get(name="Engineering")
        return {
            "ada": (str(ada.id), ada.display_name, ada.salary, ada.department_id),
            "grace": str(grace.id),
            "grace_manager": str(grace.manager.id),
            "grace_hash": grace.password_hash,
            "head": str(engineering.head_id),
        }

    found = in_database(database, shape)
    # left exactly as create-user made her, and the new people report to her
    assert found["ada"] == (ada_id, "Someone", None, None)
    assert found["grace_manager"] == ada_id
    assert found["head"] == found["grace"]
    assert PasswordHasher.verify_sync(credentials["grace@example.com"], found["grace_hash"])

    again = cli("seed")
    assert again.status == 0, again
    assert "nothing changed" in again.stdout


def test_seed_builds_a_hierarchy(cli, database):
    assert cli("seed").status == 0

    async def shape() -> dict[str, Any]:
        managed = await User.filter(manager_id__isnull=False).count()
        heads = await Department.filter(head_id__isnull=False).count()
        hr = await UserRole.filter(role="HR").count()
        admins = await UserRole.filter(role="ADMIN").count()
        return {"managed": managed, "heads": heads, "hr": hr, "admins": admins}

    counts = in_database(database, shape)
    assert counts["managed"] >= 3
    assert counts["heads"] >= 1
    assert counts["hr"] >= 1
    assert counts["admins"] >= 1


def test_export_schema_is_the_committed_schema(cli):
    result = cli("export-schema")
    assert result.status == 0, result.stderr
    assert result.stdout == (ROOT / "schema.graphql").read_text(encoding="utf-8")


def test_migrate_an_empty_database(cli, database):
    result = cli("migrate")
    assert result.status == 0, result
    assert in_database(database, _snapshot) == {
        "users": [],
        "departments": [],
        "roles": 0,
        "audit": 0,
    }
    again = cli("migrate")
    assert again.status == 0, again


def test_production_without_a_secret_names_the_variable(cli):
    line = one_line_error(
        cli("migrate", STAFFGRAPH_ENV="production", STAFFGRAPH_BCRYPT_ROUNDS="12")
    )
    assert "STAFFGRAPH_JWT_SECRET" in line


def test_every_unsafe_production_setting_is_named(cli):
    line = one_line_error(
        cli(
            "serve",
            STAFFGRAPH_ENV="production",
            STAFFGRAPH_JWT_SECRET="too-short",
            STAFFGRAPH_BCRYPT_ROUNDS="8",
            STAFFGRAPH_CORS_ORIGINS="*",
        )
    )
    for variable in (
        "STAFFGRAPH_JWT_SECRET",
        "STAFFGRAPH_BCRYPT_ROUNDS",
        "STAFFGRAPH_CORS_ORIGINS",
    ):
        assert variable in line


def test_a_malformed_setting_is_named(cli):
    line = one_line_error(cli("seed", STAFFGRAPH_ACCESS_TOKEN_TTL="soon"))
    assert "STAFFGRAPH_ACCESS_TOKEN_TTL" in line


def test_several_workers_need_redis_and_an_explicit_key(cli):
    line = one_line_error(cli("serve", "--workers", "2"))
    assert "STAFFGRAPH_REDIS_URL" in line
    line = one_line_error(
        cli("serve", "--workers", "2", STAFFGRAPH_REDIS_URL="redis://127.0.0.1:6379/15")
    )
    assert "STAFFGRAPH_JWT_SECRET" in line


def test_an_unreachable_database_exits_1(cli, tmp_path):
    missing = f"sqlite://{tmp_path / 'no-such-dir' / 'x.db'}"
    line = one_line_error(cli("migrate", STAFFGRAPH_DATABASE_URL=missing), status=1)
    assert "no-such-dir" in line
    closed = f"postgres://postgres@127.0.0.1:{free_port()}/staffgraph"
    one_line_error(
        cli(
            "create-user",
            "--email",
            "x@example.com",
            "--name",
            "X",
            "--password",
            PASSWORD,
            STAFFGRAPH_DATABASE_URL=closed,
        ),
        status=1,
    )


@pytest.mark.parametrize(
    ("host", "port", "certfile", "expected"),
    [
        ("127.0.0.1", 8000, None, "http://127.0.0.1:8000"),
        ("staff.example.com", 8443, "cert.pem", "https://staff.example.com:8443"),
        ("::1", 9000, None, "http://[::1]:9000"),
        ("0.0.0.0", 8000, None, None),  # noqa: S104
        ("::", 8000, None, None),
    ],
)
def test_public_url_defaults_to_the_served_address(
    monkeypatch, tmp_path, host, port, certfile, expected
):
    from argparse import Namespace

    from staffgraph.cli import default_public_url

    monkeypatch.chdir(tmp_path)  # no .env
    # set then delete, so that monkeypatch restores the variable the code under test sets
    monkeypatch.setenv("STAFFGRAPH_PUBLIC_URL", "unset by the test")
    monkeypatch.delenv("STAFFGRAPH_PUBLIC_URL")
    default_public_url(Namespace(host=host, port=port, ssl_certfile=certfile))
    assert os.environ.get("STAFFGRAPH_PUBLIC_URL") == expected


def test_an_explicit_public_url_is_kept(monkeypatch, tmp_path):
    from argparse import Namespace

    from staffgraph.cli import default_public_url

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STAFFGRAPH_PUBLIC_URL", "https://staff.example.com")
    default_public_url(Namespace(host="127.0.0.1", port=8000, ssl_certfile=None))
    assert os.environ["STAFFGRAPH_PUBLIC_URL"] == "https://staff.example.com"

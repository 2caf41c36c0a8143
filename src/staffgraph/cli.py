"""The ``staffgraph`` command: serve, migrate, create-user, seed, export-schema.

Every failure is one line on stderr: exit 2 for bad arguments or input, 1 for an environment
that does not answer (the database, a port).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from staffgraph.configuration import load_configuration
from staffgraph.settings import Settings, SettingsError

#: seconds SIGTERM waits for requests in progress before cancelling them: longer than the
#: default DATABASE_TIMEOUT, so that a request waiting on the database gets its answer (or 503)
GRACEFUL_SHUTDOWN_SECONDS = 8


class CliError(Exception):
    """A one-line failure with its exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")


def _settings() -> Settings:
    try:
        return load_configuration()
    except SettingsError as exc:
        raise CliError("unusable settings: " + "; ".join(exc.problems)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="staffgraph", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="serve HTTP(S) with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--ssl-certfile")
    serve.add_argument("--ssl-keyfile")

    commands.add_parser("migrate", help="apply pending migrations")

    create = commands.add_parser("create-user", help="create a user and print its id")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    secret = create.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password")
    secret.add_argument("--password-stdin", action="store_true")
    create.add_argument(
        "--role", action="append", choices=["EMPLOYEE", "MANAGER", "HR", "ADMIN"], default=None
    )
    create.add_argument("--job-title")
    create.add_argument("--department", help="department name; created if missing")
    create.add_argument("--manager", help="the manager's email")

    commands.add_parser("seed", help="create a small demo organisation")
    commands.add_parser("export-schema", help="print the SDL")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script."""
    try:
        args = build_parser().parse_args(argv)
        handler: Callable[[argparse.Namespace], int | None] = _HANDLERS[args.command]
        status = handler(args) or 0
    except CliError as exc:
        print(f"staffgraph: error: {exc}", file=sys.stderr)
        sys.exit(exc.status)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(status)


def _run(coro: Awaitable[Any], options: dict[str, str] | None = None) -> Any:
    """Run ``coro``; API errors become one line naming the option (``options`` maps the API's
    field names to the command's options)."""
    from tortoise.exceptions import BaseORMException

    from staffgraph.errors import ApiError

    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except ApiError as exc:
        message = exc.message
        option = (options or {}).get(str((exc.extensions or {}).get("field")))
        if option:
            field = str((exc.extensions or {})["field"])
            if message.startswith(field + " "):
                message = option + message[len(field) :]
            else:
                message = f"{option}: {message}"
        raise CliError(message) from None
    except (OSError, ConnectionError) as exc:
        raise CliError(f"database did not answer: {exc}", status=1) from None
    except BaseORMException as exc:
        raise CliError(f"database error: {exc}", status=1) from None


def _serve(args: argparse.Namespace) -> int:
    from staffgraph.observability.multiprocess import prepare_metrics_dir

    prepare_metrics_dir(args.workers)  # before prometheus-client is imported, here or in a worker
    import uvicorn

    from staffgraph.app import create_app
    from staffgraph.db import apply_migrations, pending_migrations
    from staffgraph.http.body_limit import MAX_BODY_BYTES
    from staffgraph.http.protocol import StaffgraphHttpProtocol
    from staffgraph.logging_setup import configure_logging

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    if not 0 < args.port < 65536:
        raise CliError("--port must be between 1 and 65535")
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise CliError("--ssl-certfile and --ssl-keyfile go together")
    default_public_url(args)
    settings = _settings()
    if args.workers > 1:
        if not settings.redis_url:
            raise CliError(
                "--workers > 1 needs STAFFGRAPH_REDIS_URL: token revocation and rate limits "
                "must be shared by every worker"
            )
        if "STAFFGRAPH_JWT_SECRET" not in _env_names() and not settings.jwt_private_key_file:
            raise CliError(
                "--workers > 1 needs STAFFGRAPH_JWT_SECRET or STAFFGRAPH_JWT_PRIVATE_KEY_FILE: "
                "each worker would otherwise sign with its own random key"
            )
    if not settings.auto_migrate:
        # before logging is set up: the refusal is the one line of output
        pending = _run(pending_migrations(settings.database_url))
        if pending:
            raise CliError(
                f"the database needs 'staffgraph migrate' ({len(pending)} migration(s) not "
                f"applied: {', '.join(pending)}; or set STAFFGRAPH_AUTO_MIGRATE=true)",
                status=1,
            )
    configure_logging(settings)  # JSON lines; the app writes its own access log
    if settings.auto_migrate:
        _run(apply_migrations(settings.database_url))
    if settings.graphiql:  # on stdout, beside the JSON log on stderr
        print(f"GraphiQL: {graphiql_url(settings, args)}", flush=True)
    ssl = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile}
    quiet: dict[str, Any] = {
        "log_config": None,
        "access_log": False,
        "ws_max_size": MAX_BODY_BYTES,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    # MAX_HEADER_BYTES, HEADER_TIMEOUT, and MAX_CONCURRENCY's refusals without an ASGI task
    quiet["http"] = StaffgraphHttpProtocol
    if args.workers > 1:
        uvicorn.run(
            "staffgraph.app:create_app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=False,
            server_header=False,
            **ssl,
            **quiet,
        )
    else:
        uvicorn.run(
            create_app(settings),
            host=args.host,
            port=args.port,
            proxy_headers=False,
            server_header=False,
            **ssl,
            **quiet,
        )
    return 0


def default_public_url(args: argparse.Namespace) -> None:
    """Unless set, ``STAFFGRAPH_PUBLIC_URL`` is the address ``serve`` listens on.

    Set in the environment, so that every worker reads it. A wildcard bind (0.0.0.0, ::)
    names no address a browser could reach: then it stays unset.
    """
    import os

    if "STAFFGRAPH_PUBLIC_URL" in _env_names() or args.host in ("", "0.0.0.0", "::"):  # noqa: S104
        return
    scheme = "https" if args.ssl_certfile else "http"
    host = f"[{args.host}]" if ":" in args.host else args.host
    os.environ["STAFFGRAPH_PUBLIC_URL"] = f"{scheme}://{host}:{args.port}"


def graphiql_url(settings: Settings, args: argparse.Namespace) -> str:
    """Where a browser on this machine finds GraphiQL: under ``PUBLIC_URL`` when known."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/graphql"
    scheme = "https" if args.ssl_certfile else "http"
    return f"{scheme}://localhost:{args.port}/graphql"  # a wildcard bind answers there too


def _env_names() -> set[str]:
    import os

    from dotenv import dotenv_values

    return set(os.environ) | set(dotenv_values(".env"))


def _migrate(args: argparse.Namespace) -> int:
    from staffgraph.db import apply_migrations

    settings = _settings()
    _run(apply_migrations(settings.database_url))
    print("migrations applied")
    return 0


_CREATE_USER_OPTIONS = {
    "email": "--email",
    "displayName": "--name",
    "password": "--password",
    "jobTitle": "--job-title",
}


def _create_user(args: argparse.Namespace) -> int:
    from staffgraph.models import Role

    settings = _settings()
    if args.password_stdin:
        if sys.stdin.isatty():
            import getpass

            password = getpass.getpass("Password: ")
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: no password on standard input")
    else:
        password = args.password
    roles = [Role(r) for r in (args.role or ["EMPLOYEE"])]
    user_id, created_department = _run(
        _with_orm(settings, lambda: _create_user_async(settings, args, password, roles)),
        _CREATE_USER_OPTIONS,
    )
    if created_department:
        print(f"created department {created_department}", file=sys.stderr)
    print(user_id)
    return 0


async def _create_user_async(
    settings: Settings, args: argparse.Namespace, password: str, roles: list[Any]
) -> tuple[str, str | None]:
    """Create the user (and its department when missing) in one transaction: a refused user
    leaves no department behind."""
    from tortoise.transactions import in_transaction

    from staffgraph.auth.passwords import PasswordHasher
    from staffgraph.models import Department, User
    from staffgraph.resolvers.staff import create_user
    from staffgraph.resolvers.validation import clean_email, clean_text

    department_id = manager_id = None
    created_department = None
    if args.manager is not None:
        manager = await User.get_or_none(email=clean_email(args.manager, "--manager"))
        if manager is None:
            raise CliError(f"no user with email {args.manager}")
        manager_id = manager.id
    hasher = PasswordHasher(settings.bcrypt_rounds)
    try:
        async with in_transaction():
            if args.department is not None:
                name = clean_text(args.department, "--department", max_length=200, required=True)
                department = await Department.get_or_none(name=name)
                if department is None:
                    department = await Department.create(name=name)
                    created_department = name
                department_id = department.id
            user = await create_user(
                hasher,
                email=args.email,
                display_name=args.name,
                password=password,
                roles=roles,
                job_title=args.job_title,
                department_id=department_id,
                manager_id=manager_id,
            )
    finally:
        hasher.close()
    return str(user.id), created_department


async def _with_orm(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    """Migrate if needed, run ``work()`` with the ORM up, close the connections."""
    from tortoise import Tortoise

    from staffgraph.db import apply_migrations, tortoise_config

    await apply_migrations(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        return await work()
    finally:
        await Tortoise.close_connections()


def _seed(args: argparse.Namespace) -> int:
    from staffgraph.seed import seed

    settings = _settings()
    lines = _run(_with_orm(settings, lambda: seed(settings)))
    print("\n".join(lines))
    return 0


def _export_schema(args: argparse.Namespace) -> int:
    from staffgraph.schema import schema_sdl

    sys.stdout.write(schema_sdl())
    return 0


_HANDLERS: dict[str, Callable[[argparse.Namespace], int | None]] = {
    "serve": _serve,
    "migrate": _migrate,
    "create-user": _create_user,
    "seed": _seed,
    "export-schema": _export_schema,
}

if __name__ == "__main__":  # pragma: no cover
    main()

"""Process settings, read from ``STAFFGRAPH_*`` environment variables and a ``.env`` file.

Production mode refuses unsafe values: :func:`load_settings` raises :class:`UnsafeSettingsError`
naming every problem at once, so an operator fixes them in one pass.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from limits import RateLimitItem, parse
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_JWT_SECRET_BYTES = 32
MIN_PRODUCTION_BCRYPT_ROUNDS = 10
#: requests in progress per process before new ones get 503 (bench/README.md, "Overload")
DEFAULT_MAX_CONCURRENCY = 32
#: where development keeps its generated signing secret, in the working directory
DEVELOPMENT_SECRET_FILE = ".staffgraph-secret"  # noqa: S105 -- a file name

CommaList = Annotated[list[str], NoDecode]


class SettingsError(Exception):
    """Settings that cannot be used; ``problems`` holds one line per offending variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class UnsafeSettingsError(SettingsError):
    """Settings that are valid but unsafe in production."""


class Settings(BaseSettings):
    """Every ``STAFFGRAPH_*`` setting of the public contract, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="STAFFGRAPH_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite://staffgraph.db"
    redis_url: str | None = None
    #: seconds a statement, a new connection or a pooled one may take before the request
    #: answers 503 SERVICE_UNAVAILABLE
    database_timeout: float = Field(5.0, gt=0, le=300)
    auto_migrate: bool | None = None

    jwt_secret: str | None = None
    jwt_private_key_file: str | None = None
    jwt_previous_public_key_files: CommaList = Field(default_factory=list)
    jwt_issuer: str = "staffgraph"
    jwt_audience: str = "staffgraph"
    access_token_ttl: int = Field(900, ge=30, le=86_400)
    refresh_token_ttl: int = Field(2_592_000, ge=300)
    refresh_reuse_interval: int = Field(10, ge=0, le=300)
    bcrypt_rounds: int = Field(12, ge=4, le=31)

    introspection: Literal["public", "authenticated", "off"] | None = None
    graphiql: bool | None = None
    cors_origins: CommaList = Field(default_factory=list)
    #: request headers allowed cross-origin besides the defaults (tracing, Apollo, ours)
    cors_allow_headers: CommaList = Field(default_factory=list)
    trusted_proxies: CommaList = Field(default_factory=list)
    rate_limit: str = "300/minute"
    login_rate_limit: str = "10/15 minutes"
    login_address_rate_limit: str = "100/hour"
    login_account_rate_limit: str = "100/15 minutes"

    # GraphQL document limits (see staffgraph.schema.limits); over one: GRAPHQL_VALIDATION_FAILED
    max_tokens: int = Field(2000, ge=50, le=100_000)
    max_depth: int = Field(10, ge=2, le=100)
    max_aliases: int = Field(15, ge=0, le=1000)
    max_directives: int = Field(5, ge=0, le=100)
    max_duplicate_fields: int = Field(10, ge=1, le=1000)
    max_cost: int = Field(5000, ge=10)
    default_list_size: int = Field(20, ge=1, le=1000)
    batching: bool = False
    #: a manifest of trusted documents (graphql-codegen's or Apollo's format)
    trusted_documents: str | None = None
    #: run only the manifest's documents; other texts and APQ registration are refused
    trusted_documents_only: bool = False
    max_operations: int = Field(10, ge=1, le=100)
    #: operations in flight on one WebSocket connection, subscriptions included
    max_subscriptions_per_connection: int = Field(20, ge=1, le=1000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: the bearer token of ``GET /metrics``; unset, the endpoint does not exist
    metrics_token: str | None = Field(None, min_length=16)

    # overload and slow clients (see staffgraph.http.concurrency and staffgraph.http.protocol)
    max_concurrency: int = Field(DEFAULT_MAX_CONCURRENCY, ge=1, le=100_000)
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    header_timeout: float = Field(10.0, gt=0, le=3600)

    public_url: str | None = None
    oauth_providers: CommaList = Field(default_factory=list)
    oauth_redirect_allowlist: CommaList = Field(default_factory=list)
    oauth_link_by_email: bool = True
    oauth_auto_provision: bool = False

    @field_validator(
        "cors_origins",
        "cors_allow_headers",
        "trusted_proxies",
        "oauth_providers",
        "oauth_redirect_allowlist",
        "jwt_previous_public_key_files",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker-compose passes an unset variable on as an empty one
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ip_network(item, strict=False)  # raises ValueError naming the bad entry
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "rate_limit", "login_rate_limit", "login_address_rate_limit", "login_account_rate_limit"
    )
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit such as '300/minute': {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _valid_database_url(cls, value: str) -> str:
        scheme = value.split("://", 1)[0]
        if "://" not in value or scheme not in {"sqlite", "postgres", "asyncpg", "psycopg"}:
            raise ValueError("expected sqlite://PATH or postgres://user:pass@host:port/db")
        return value

    @model_validator(mode="after")
    def _fill_environment_defaults(self) -> Settings:
        production = self.env == "production"
        # frozen model: defaults that depend on ENV are filled through object.__setattr__
        if self.auto_migrate is None:
            object.__setattr__(self, "auto_migrate", not production)
        if self.introspection is None:
            object.__setattr__(self, "introspection", "authenticated" if production else "public")
        if self.graphiql is None:
            object.__setattr__(self, "graphiql", not production)
        if self.jwt_secret is None and self.jwt_private_key_file is None and not production:
            # development only: a secret made once and kept, so restarting `serve` (or its
            # workers) keeps everyone signed in; production must be given one
            object.__setattr__(self, "jwt_secret", development_secret(Path.cwd()))
        return self

    @property
    def is_production(self) -> bool:
        """True when ``STAFFGRAPH_ENV=production``."""
        return self.env == "production"

    @cached_property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """``TRUSTED_PROXIES`` parsed into networks."""
        return tuple(ip_network(item, strict=False) for item in self.trusted_proxies)

    @cached_property
    def request_rate(self) -> RateLimitItem:
        """``RATE_LIMIT`` parsed by the limits library."""
        return parse(self.rate_limit)

    @cached_property
    def login_rate(self) -> RateLimitItem:
        """``LOGIN_RATE_LIMIT`` (per account and address) parsed by the limits library."""
        return parse(self.login_rate_limit)

    @cached_property
    def login_address_rate(self) -> RateLimitItem:
        """``LOGIN_ADDRESS_RATE_LIMIT`` (per address, any account) parsed."""
        return parse(self.login_address_rate_limit)

    @cached_property
    def login_account_rate(self) -> RateLimitItem:
        """``LOGIN_ACCOUNT_RATE_LIMIT`` (per account, any address) parsed."""
        return parse(self.login_account_rate_limit)

    def unsafe_for_production(self) -> list[str]:
        """Each setting that production must not run with, as one sentence per problem."""
        problems: list[str] = []
        if self.jwt_private_key_file is None:
            if not self.jwt_secret:
                problems.append(
                    "STAFFGRAPH_JWT_SECRET is not set (or set STAFFGRAPH_JWT_PRIVATE_KEY_FILE)"
                )
            elif len(self.jwt_secret.encode()) < MIN_JWT_SECRET_BYTES:
                problems.append(
                    f"STAFFGRAPH_JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes"
                )
        if self.bcrypt_rounds < MIN_PRODUCTION_BCRYPT_ROUNDS:
            problems.append(
                f"STAFFGRAPH_BCRYPT_ROUNDS is {self.bcrypt_rounds}, "
                f"below {MIN_PRODUCTION_BCRYPT_ROUNDS}"
            )
        if "*" in self.cors_origins:
            problems.append("STAFFGRAPH_CORS_ORIGINS contains '*' (name each allowed origin)")
        return problems


def development_secret(directory: Path) -> str:
    """The signing secret kept in ``directory/.staffgraph-secret``, made on first use.

    The file is created with mode 0600 and appears whole (written aside, then hard-linked into
    place), so processes starting together agree on one secret. A file others may read, or one
    that holds too short a secret, is refused with what to do about it.
    """
    path = directory / DEVELOPMENT_SECRET_FILE
    while True:
        try:
            return _read_secret(path)
        except FileNotFoundError:
            pass
        draft = directory / f"{DEVELOPMENT_SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(descriptor, "w", encoding="ascii") as file:
                    file.write(secrets.token_urlsafe(48) + "\n")
                os.link(draft, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
            finally:
                draft.unlink(missing_ok=True)
        except OSError as exc:
            raise ValueError(
                f"cannot keep a development secret in {path} ({exc.strerror}): "
                "set STAFFGRAPH_JWT_SECRET"
            ) from None


def _read_secret(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        raise ValueError(f"{path} may be read by other users: chmod 600 {path}")
    value = path.read_text(encoding="utf-8").strip()
    if len(value.encode()) < MIN_JWT_SECRET_BYTES:
        raise ValueError(
            f"{path} holds less than {MIN_JWT_SECRET_BYTES} bytes: delete it to have a new "
            "secret made (which signs everyone out)"
        )
    return value


def load_settings(**overrides: object) -> Settings:
    """Read the settings, raising :class:`SettingsError` with one line per bad variable.

    In production, unsafe values raise :class:`UnsafeSettingsError` instead of starting.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:  # a check across settings: its message names what to fix
                problems.append(error["msg"].removeprefix("Value error, "))
                continue
            name = "STAFFGRAPH_" + "_".join(str(p) for p in error["loc"]).upper()
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError(problems) from None
    if settings.is_production:
        problems = settings.unsafe_for_production()
        if problems:
            raise UnsafeSettingsError(problems)
    elif settings.jwt_secret and len(settings.jwt_secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise SettingsError([f"STAFFGRAPH_JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes"])
    return settings

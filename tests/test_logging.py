"""Structured logs: one JSON access line per request, and never a password, a token or a
secret in any line, even at DEBUG."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from staffgraph.http.edge import Edge
from staffgraph.logging_setup import JsonFormatter, Redactor, configure_logging
from tests.conftest import JWT_SECRET
from tests.live_server import LiveServer, live_server, staffgraph_command

PASSWORD = "Kangaroo pastry window 93"
WRONG_PASSWORD = "Wrong horse staple 1984 x"
LOGIN = """mutation SignIn($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken refreshToken user { id } }
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(
        tmp_path_factory.mktemp("logging"),
        STAFFGRAPH_LOG_LEVEL="debug",
        STAFFGRAPH_RATE_LIMIT="1000/minute",
    ) as s:
        created = subprocess.run(
            [
                staffgraph_command(),
                "create-user",
                "--email",
                "ada@example.com",
                "--name",
                "Ada",
                "--password-stdin",
            ],
            input=PASSWORD + "\n",
            env=s.env,
            cwd=s.log_path.parent,
            capture_output=True,
            text=True,
            check=True,
        )
        s.env["ADA_ID"] = created.stdout.strip()
        yield s


def log_lines(server: LiveServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.logs().splitlines() if line.strip()]


def post(server: LiveServer, payload: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = httpx.post(f"{server.base_url}/graphql", json=payload, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.slow
def test_no_secret_in_any_log_line_at_debug(server: LiveServer) -> None:
    signed_in = post(
        server, {"query": LOGIN, "variables": {"email": "ada@example.com", "password": PASSWORD}}
    )["data"]["login"]
    access, refresh = signed_in["accessToken"], signed_in["refreshToken"]
    inline = (
        f'mutation {{ login(email: "ada@example.com", password: "{PASSWORD}") {{ accessToken }} }}'
    )
    assert "errors" not in post(server, {"query": inline})
    wrong = post(
        server,
        {"query": LOGIN, "variables": {"email": "ada@example.com", "password": WRONG_PASSWORD}},
    )
    assert wrong["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    me = post(server, {"query": "{ me { id } }"}, Authorization=f"Bearer {access}")
    assert me["data"]["me"]["id"] == server.env["ADA_ID"]
    refreshed = post(
        server,
        {
            "query": "mutation R($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            "variables": {"t": refresh},
        },
    )
    assert "errors" not in refreshed, refreshed
    marker = httpx.get(f"{server.base_url}/healthz", headers={"X-Request-ID": "logtest-final-0001"})
    assert marker.status_code == 200
    server.wait_for_line('"staffgraph.access"', "logtest-final-0001")  # every request logged

    logs = server.logs()
    lines = log_lines(server)  # every line is one JSON object
    assert any(line["level"] == "DEBUG" for line in lines)  # really at DEBUG
    for secret in (
        PASSWORD,
        WRONG_PASSWORD,
        access,
        refresh,
        JWT_SECRET,
        refreshed["data"]["refreshToken"]["accessToken"],
    ):
        assert secret not in logs
    assert access.split(".")[2] not in logs  # not even the signature alone
    assert "$2b$" not in logs  # no password hash either


@pytest.mark.slow
def test_one_access_line_per_request(server: LiveServer) -> None:
    token = post(
        server, {"query": LOGIN, "variables": {"email": "ada@example.com", "password": PASSWORD}}
    )["data"]["login"]["accessToken"]
    response = httpx.post(
        f"{server.base_url}/graphql",
        json={"query": "query WhoAmI { me { id } }", "operationName": "WhoAmI"},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "logtest-request-0001"},
    )
    assert response.status_code == 200
    server.wait_for_line('"staffgraph.access"', '"request_id": "logtest-request-0001"')
    access = [
        line
        for line in log_lines(server)
        if line["logger"] == "staffgraph.access"
        and line.get("request_id") == "logtest-request-0001"
    ]
    assert len(access) == 1
    line = access[0]
    assert line["user_id"] == server.env["ADA_ID"]
    assert line["operation"] == "WhoAmI"
    assert line["status"] == 200
    assert line["method"] == "POST"
    assert line["path"] == "/graphql"
    assert isinstance(line["duration_ms"], float | int)
    anonymous = httpx.get(f"{server.base_url}/graphql?query=%7B__typename%7D&password=hunter2")
    assert anonymous.status_code == 405
    server.wait_for_line('"staffgraph.access"', anonymous.headers["x-request-id"])
    refused = [
        line
        for line in log_lines(server)
        if line.get("request_id") == anonymous.headers["x-request-id"]
    ]
    assert refused[-1]["status"] == 405
    assert refused[-1]["user_id"] is None
    assert "hunter2" not in server.logs()  # the query string is never logged


def test_redactor_patterns_and_known_secrets() -> None:
    redact = Redactor(["s3cr3t-value-1234"])
    jwt = (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
        ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    )
    text = (
        f"auth=Bearer abcdefghijklmnop token={jwt} "
        "hash=$2b$12$abcdefghijklmnopqrstuuFh2lzXlqVmZ8YJ0G5bKzJ1mY0a5Cq2e "
        "url=postgres://staff:pa55word@db:5432/x other=s3cr3t-value-1234"
    )
    cleaned = redact(text)
    for secret in ("abcdefghijklmnop", jwt, "$2b$12$", "pa55word", "s3cr3t-value-1234"):
        assert secret not in cleaned
    assert "db:5432/x" in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "auth=BEARER abcdefghijklmnop",
        "auth=BaSiC abcdefghijklmnop",
        # letters a case-blind match folds into "basic" and "bearer": not ASCII, so the
        # lowered text does not hold the word, yet the pattern redacts
        "auth=ba\u017fic abcdefghijklmnop",
        "auth=bas\u0131c abcdefghijklmnop é",
        "key=\u212a auth=bearer abcdefghijklmnop",
    ],
)
def test_an_authorization_value_is_redacted_however_it_is_spelled(text: str) -> None:
    cleaned = Redactor()(text)
    assert "abcdefghijklmnop" not in cleaned
    assert cleaned.endswith("[redacted]" + (" é" if text.endswith("é") else ""))


def test_a_line_is_the_text_json_dumps_gives() -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd \u00e9"

    entries: list[dict[str, Any]] = [
        {"message": 'é \ud800 \u2028 "quoted" \\ \n\t', "n": 1, "f": 0.1, "big": 10**30},
        {"nested": {"list": [1, None, True, 1.5e300, "x"], "empty": {}}, "odd": Odd()},
        {"nan": float("nan"), "inf": float("-inf"), "uuid": uuid.UUID(int=7)},
    ]
    formatter = JsonFormatter()
    for extras in entries:
        line = formatter.render(0.0, "INFO", "tests", "m", extras)
        expected = {"time": "1970-01-01T00:00:00.000+00:00", "level": "INFO", "logger": "tests"}
        expected |= {"message": "m", **extras}
        assert line == json.dumps(expected, default=str, ensure_ascii=True)
        assert line.isascii()


def test_json_formatter_one_line_with_extras_and_exception() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.logging.unit")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("bad \ud800 value\nsecond line")
        except ValueError:
            logger.exception("failed for %s", "Bearer abcdefghijklmnopqrst", extra={"status": 500})
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert output.count("\n") == 1
    entry = json.loads(output)
    assert entry["status"] == 500
    assert entry["level"] == "ERROR"
    assert "ValueError" in entry["exception"]
    assert "abcdefghijklmnopqrst" not in output


@contextmanager
def logging_restored() -> Iterator[None]:
    """The root logger's handlers and level, and uvicorn's access logger, as they were before,
    afterwards (``configure_logging`` replaces them)."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        logging.getLogger("uvicorn.access").disabled = False


def test_configure_logging_never_below_debug() -> None:
    root = logging.getLogger()
    with logging_restored():
        configure_logging(level="TRACE", stream=io.StringIO())
        assert root.level >= logging.DEBUG
        configure_logging(level="WARNING", stream=io.StringIO())
        assert root.level == logging.WARNING


@pytest.mark.parametrize(
    "secret",
    [
        "Authorization: Bearer abcdefgh12345678",
        "authorization: bAsIc dXNlcjpwYXNzd29yZA==",
        "Ba\u017fic dXNlcjpwYXNzd29yZA==",  # long s: the regex's case folding, not lower()'s
        "token eyJhbGciOi.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        "hash $2b$12$" + "a" * 53,
        "url postgres://user:s3cret@db:5432/x",
        "url redis://:s3cret@cache:6379/0",
    ],
)
def test_every_kind_of_secret_is_redacted(secret):
    redacted = Redactor(["configured-secret-value"])(
        f"before {secret} after configured-secret-value"
    )
    assert "[redacted]" in redacted
    assert "configured-secret-value" not in redacted
    for part in ("abcdefgh12345678", "dXNlcjpwYXNzd29yZA", "c2lnbmF0dXJl", "a" * 53, "s3cret"):
        assert part not in redacted
    assert redacted.startswith("before ")
    assert redacted.endswith(" after [redacted]")


async def _one_access_line(stream: io.StringIO, path: str = "/graphql") -> dict[str, Any]:
    """One request through :class:`Edge` around an app answering 201; its access line."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["state"]["graphql_operation"] = "Who"
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    before = len(stream.getvalue().splitlines())
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"x-request-id", b"request-0001")],
        "state": {"client_ip": "10.0.0.7"},  # as the rate limit sets it
    }
    await Edge(app)(scope, receive, send)
    lines = stream.getvalue().splitlines()
    assert len(lines) == before + 1
    entry: dict[str, Any] = json.loads(lines[-1])
    return entry


@pytest.fixture
def json_logging() -> Iterator[io.StringIO]:
    """``configure_logging`` onto a string, and the logging that was there back afterwards."""
    stream = io.StringIO()
    with logging_restored():
        configure_logging(level="INFO", stream=stream)
        yield stream


@contextmanager
def only_the_configured_handler() -> Iterator[None]:
    """The root logger without pytest's capturing handlers (added for each test's run), as in a
    serving process."""
    root = logging.getLogger()
    saved = list(root.handlers)
    root.handlers = [h for h in saved if isinstance(h.formatter, JsonFormatter)]
    try:
        yield
    finally:
        root.handlers = saved


async def test_the_access_line_is_written_without_a_log_record(
    json_logging: io.StringIO,
) -> None:
    made: list[logging.LogRecord] = []
    factory = logging.getLogRecordFactory()

    def counting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        made.append(record)
        return record

    logging.setLogRecordFactory(counting)
    try:
        with only_the_configured_handler():
            entry = await _one_access_line(json_logging)
    finally:
        logging.setLogRecordFactory(factory)
    assert made == []
    assert entry["status"] == 201
    assert entry["message"] == "POST /graphql 201"


async def test_the_access_line_is_the_same_whichever_way_it_is_written(
    json_logging: io.StringIO,
) -> None:
    access_logger = logging.getLogger("staffgraph.access")
    keep_all = logging.Filter()  # passes every record, but is in the way
    with only_the_configured_handler():
        direct = await _one_access_line(json_logging)
        access_logger.addFilter(keep_all)
        try:
            through_logging = await _one_access_line(json_logging)
        finally:
            access_logger.removeFilter(keep_all)
    for entry in (direct, through_logging):
        assert entry.pop("time").endswith("+00:00")
        assert entry.pop("duration_ms") >= 0
        assert len(entry.pop("trace_id")) == 32  # a new trace for each request
    assert direct == through_logging
    assert list(direct) == list(through_logging)  # the same keys in the same order
    assert direct == {
        "level": "INFO",
        "logger": "staffgraph.access",
        "message": "POST /graphql 201",
        "request_id": "request-0001",
        "method": "POST",
        "path": "/graphql",
        "status": 201,
        "user_id": None,
        "operation": "Who",
        "client_ip": "10.0.0.7",
    }


async def test_a_secret_in_the_path_is_redacted_on_the_direct_way_too(
    json_logging: io.StringIO,
) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlX2hlcmU"
    with only_the_configured_handler():
        entry = await _one_access_line(json_logging, path=f"/graphql/{token}")
    assert token not in json.dumps(entry)
    assert "[redacted]" in entry["path"]


async def test_another_handler_still_gets_the_access_record(
    json_logging: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="staffgraph.access"):
        entry = await _one_access_line(json_logging)
    assert [r.getMessage() for r in caplog.records if r.name == "staffgraph.access"] == [
        "POST /graphql 201"
    ]
    assert entry["operation"] == "Who"

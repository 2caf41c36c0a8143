"""Structured logs: one JSON object per line, one access line per request, no secrets.

:func:`configure_logging` replaces uvicorn's own logging (``serve`` passes ``log_config=None``
and ``access_log=False``): every record, uvicorn's included, goes through one handler that
formats JSON, adds the current request id and trace id, and redacts what must never be
written: bearer tokens, anything shaped like a JWT or a bcrypt hash, and the configured secrets
themselves.
The access line (:func:`log_access`) carries the request id, user id, operation name, status
and duration; never the query text, its variables or the query string of the URL.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import json.encoder
import logging
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from starlette.types import Scope

from staffgraph.observability.tracing import trace_id_var
from staffgraph.uuid_texts import uuid_text

if TYPE_CHECKING:
    from staffgraph.settings import Settings

access_log = logging.getLogger("staffgraph.access")

#: the request being served by this task, added to every record logged while it runs
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "staffgraph_request_id", default=None
)

_REDACTED = "[redacted]"
#: any spelling of the words an authorization value follows, as a case-blind match finds them
_AUTHORIZATION_WORDS = re.compile(r"(?i)bearer|basic")


def _mentions_authorization(text: str) -> bool:
    """Whether ``text`` holds what :data:`_AUTHORIZATION_WORDS` finds. In ASCII text (every
    JSON line, written with ensure_ascii) that is the lowered text holding either word, at a
    fifth of the expression's cost; other text may hold letters that fold into these words
    (U+017F, U+0131), so it goes through the expression."""
    if text.isascii():
        lowered = text.lower()
        return "bearer" in lowered or "basic" in lowered
    return _AUTHORIZATION_WORDS.search(text) is not None


#: (a literal every match contains, or a test that every text holding a match passes; the
#: pattern that redacts): the cheap test runs first, so a line without any hint of a secret
#: (nearly every line, the access lines above all) costs a few substring tests
_PATTERNS: tuple[tuple[str | Callable[[str], bool], re.Pattern[str]], ...] = (
    # Authorization header values
    (
        _mentions_authorization,
        re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    ),
    # JWTs (header.payload.signature, base64url)
    ("eyJ", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")),
    # bcrypt hashes
    ("$2", re.compile(r"\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}")),
    # credentials in URLs (postgres://user:password@host, redis://:password@host)
    ("://", re.compile(r"(?<=://)[^/\s:@]*:[^/\s@]+(?=@)")),
)
#: record attributes that are not extra fields
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


#: one JSON line's encoder, as ``json.dumps(entry, default=str, ensure_ascii=True)`` makes it
#: for every call (see :func:`_dumps`)
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_line_encoder = (
    _c_make_encoder(
        None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    if _c_make_encoder is not None
    else None
)


def _dumps(entry: dict[str, Any]) -> str:
    """``json.dumps(entry, default=str, ensure_ascii=True)``, the same text, with its C encoder
    made once rather than per line. Without the check for circular references: a log entry is
    made of plain values, and a circular one fails all the same (RecursionError)."""
    if _line_encoder is None:
        return json.dumps(entry, default=str, ensure_ascii=True)
    return "".join(_line_encoder(entry, 0))


class Redactor:
    """Replaces secrets in text: the patterns above plus known secret values."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        # short values would redact innocent words; the settings refuse short secrets anyway
        self.secrets = sorted({s for s in secrets or () if len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, _REDACTED)
        for hint, pattern in _PATTERNS:
            if hint in text if isinstance(hint, str) else hint(text):
                text = pattern.sub(_REDACTED, text)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extras, exception; redacted."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        extras = {
            key: value
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        }
        exception = self.formatException(record.exc_info) if record.exc_info else None
        stack = self.formatStack(record.stack_info) if record.stack_info else None
        message = record.getMessage()
        return self.render(
            record.created, record.levelname, record.name, message, extras, exception, stack
        )

    def render(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        extras: dict[str, Any],
        exception: str | None = None,
        stack: str | None = None,
    ) -> str:
        """The line of a record made of these parts (``created`` as ``time.time()`` gives it);
        :meth:`format` and the access line written directly both come here."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "logger": logger,
            "message": message,
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        trace_id = trace_id_var.get()
        if trace_id:
            entry["trace_id"] = trace_id
        entry.update(extras)
        if exception:
            entry["exception"] = exception
        elif stack:
            entry["stack"] = stack
        # ensure_ascii: a lone surrogate from a client can never break the log stream
        return self.redactor(_dumps(entry))


def settings_secrets(settings: Settings) -> list[str]:
    """Every configured secret value: the JWT secret, the metrics token and the passwords inside
    service URLs."""
    import os

    found = [settings.jwt_secret or "", settings.metrics_token or ""]
    for url in (settings.database_url, settings.redis_url or ""):
        password = urlsplit(url).password if "://" in url else None
        if password:
            found.append(password)
    found.extend(
        value
        for name, value in os.environ.items()
        if name.startswith("STAFFGRAPH_") and name.endswith(("_SECRET", "_CLIENT_SECRET"))
    )
    return found


def configure_logging(
    settings: Settings | None = None,
    *,
    level: str | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route every logger (uvicorn's too) to one redacting JSON handler on ``stream``."""
    name = level or (settings.log_level if settings else "INFO")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(Redactor(settings_secrets(settings) if settings else [])))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # never below DEBUG: uvicorn's TRACE level logs raw ASGI messages, headers included
    root.setLevel(
        max(logging.getLevelNamesMapping().get(name.upper(), logging.INFO), logging.DEBUG)
    )
    for noisy in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(noisy)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    logging.getLogger("uvicorn.access").disabled = True  # log_access writes the access lines
    # aiosqlite repeats every statement tortoise.db_client already logged, twice, at DEBUG
    logging.getLogger("aiosqlite").setLevel(max(root.level, logging.INFO))
    global _installed
    _installed = handler
    return handler


#: the handler :func:`configure_logging` installed last
_installed: logging.StreamHandler[TextIO] | None = None


def _sole_json_handler() -> logging.StreamHandler[TextIO] | None:
    """The handler an access record would reach, when that is the one :func:`configure_logging`
    installed, formatting with its :class:`JsonFormatter` and filtering nothing; else None.

    Walks the loggers as ``Logger.callHandlers`` does: anything else in the way (a filter, a
    second handler such as pytest's, a formatter of another kind) means the record goes through
    ``logging`` as usual.
    """
    handler = _installed
    if (
        handler is None
        or access_log.disabled
        or access_log.filters
        or not access_log.isEnabledFor(logging.INFO)
        or handler.filters
        or handler.level > logging.INFO
        or type(handler.formatter) is not JsonFormatter
    ):
        return None
    found = False
    logger: logging.Logger | None = access_log
    while logger is not None:
        for each in logger.handlers:
            if each is not handler or found:
                return None
            found = True
        if not logger.propagate:
            break
        logger = logger.parent
    return handler if found else None


def log_access(scope: Scope, status: int, seconds: float) -> None:
    """The ``staffgraph.access`` line of an answered HTTP request.

    :class:`staffgraph.http.edge.Edge` calls it last, with :data:`request_id_var` set; the user
    id and client address come from the rate-limit middleware's scope state, the operation name
    from the GraphQL request guard.
    """
    state = scope.get("state", {})
    if state.get("client_disconnected"):
        status = 499  # nginx's "client closed request": no answer went out
    viewer = state.get("viewer")
    method, path = scope.get("method"), scope.get("path")
    extras = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "user_id": uuid_text(viewer.user_id) if viewer is not None else None,
        "operation": state.get("graphql_operation"),
        "client_ip": state.get("client_ip"),
    }
    handler = _sole_json_handler()
    if handler is None:
        access_log.info("%s %s %s", method, path, status, extra=extras)
    else:
        write_access_line(handler, f"{method} {path} {status}", extras)


def write_access_line(
    handler: logging.StreamHandler[TextIO], message: str, extras: dict[str, Any]
) -> None:
    """Write the line ``access_log.info(message, extra=extras)`` would, without ``logging``.

    The record, the caller's frame, the thread and process names and the walk through the
    loggers cost more than the line's own text: without them ``me`` costs 7-8% less CPU
    (bench/README.md, "Paired runs"). What ``StreamHandler.emit`` does with the text is done
    here the same way, its lock included.
    """
    formatter = handler.formatter
    assert isinstance(formatter, JsonFormatter)
    created = time.time()
    try:
        line = formatter.render(created, "INFO", access_log.name, message, extras)
        with handler.lock or contextlib.nullcontext():
            handler.stream.write(line + handler.terminator)
            handler.flush()
    except RecursionError:  # as logging does: never swallowed
        raise
    except Exception:
        record = access_log.makeRecord(
            access_log.name, logging.INFO, __file__, 0, message, (), None, extra=extras
        )
        record.created = created
        handler.handleError(record)

"""What every HTTP answer adds to the metrics: its duration, its status and its error codes.

:class:`staffgraph.http.edge.Edge` shows a :class:`ResponseWatch` each message it sends; it
sees every answer, the rate limit's 429s and the body limit's 413s included. The operation name
and type come from the request guard's scope state (``graphql_operation``,
``graphql_operation_type``); error codes from the JSON body's ``errors``, read only when the
body holds that key and is small enough to parse.
"""

from __future__ import annotations

import json

from starlette.types import Message

from staffgraph.observability import metrics

#: bodies larger than this are not parsed for error codes (counted as ``unread``)
MAX_PARSED_BODY_BYTES = 1 << 20
_JSON_TYPES = (b"application/json", b"application/graphql-response+json")


class ResponseWatch:
    """One answer as it goes out: its status, and its body when it is JSON and small enough
    to find error codes in."""

    __slots__ = ("_chunks", "_is_json", "_size", "_too_large", "status")

    def __init__(self) -> None:
        #: None until the answer starts (it may never: an exception, a client that left)
        self.status: int | None = None
        self._is_json = False
        self._chunks: list[bytes] = []  # kept, not copied: joined only when errors may be inside
        self._size = 0
        self._too_large = False

    def start(self, message: Message) -> None:
        """An ``http.response.start`` message."""
        self.status = message["status"]
        for name, value in message.get("headers", ()):
            if name.lower() == b"content-type":
                self._is_json = value.split(b";")[0].strip().lower() in _JSON_TYPES

    def body(self, message: Message) -> None:
        """An ``http.response.body`` message."""
        if not self._is_json or self._too_large:
            return
        chunk = message.get("body", b"")
        self._size += len(chunk)
        if self._size > MAX_PARSED_BODY_BYTES:
            self._too_large = True
            self._chunks.clear()
        else:
            self._chunks.append(chunk)

    @property
    def answered_status(self) -> int:
        """The status sent, or 500 when no answer started."""
        return 500 if self.status is None else self.status

    def record(self, operation: str | None, kind: str | None, seconds: float) -> None:
        """Count the answer by status and error codes, and its duration by operation."""
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        codes = {"UNREAD"} if self._too_large else error_codes(body)
        metrics.response(self.answered_status, codes)
        metrics.request_duration(operation, kind, seconds)


def error_codes(body: bytes) -> set[str]:
    """The distinct ``extensions.code`` values of a GraphQL-shaped JSON body's errors."""
    if b'"errors"' not in body:
        return set()
    try:
        decoded = json.loads(body)
    except ValueError:
        return set()
    found: set[str] = set()
    for answer in decoded if isinstance(decoded, list) else [decoded]:
        errors = answer.get("errors") if isinstance(answer, dict) else None
        for error in errors if isinstance(errors, list) else ():
            extensions = error.get("extensions") if isinstance(error, dict) else None
            code = extensions.get("code") if isinstance(extensions, dict) else None
            found.add(code if isinstance(code, str) else "NO_CODE")
    return found

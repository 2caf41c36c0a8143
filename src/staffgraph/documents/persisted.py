"""Resolving a request's document: its ``query``, a persisted query's hash (Apollo's APQ), or a
trusted document's ``documentId`` (GraphQL over HTTP).

APQ: ``{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}}`` without
``query`` runs the document stored under that hash or answers ``PERSISTED_QUERY_NOT_FOUND`` (the
client then sends it again with ``query``); with ``query``, the hash must be the query's SHA-256
(``BAD_USER_INPUT`` otherwise) and the document is stored: in process memory (bounded) and, with
``REDIS_URL``, in Redis for every instance (kept a day). ``TRUSTED_DOCUMENTS_ONLY`` turns
registration off: only the manifest's documents run, and any other text is refused with
``PERSISTED_QUERY_NOT_IN_LIST`` before it is parsed (by the request guard, on every transport).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from staffgraph.documents.trusted import document_hash
from staffgraph.errors import (
    PERSISTED_QUERY_NOT_FOUND,
    PERSISTED_QUERY_NOT_IN_LIST,
    ApiError,
    BadUserInput,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("staffgraph.documents")

REDIS_KEY = "staffgraph:apq:{hash}"
#: how long Redis keeps a registered document
REDIS_TTL_SECONDS = 24 * 3600
#: registered documents kept in each process
MAX_REGISTERED = 1000
#: a persisted document longer than this is not stored (the token limit refuses it anyway)
MAX_DOCUMENT_CHARS = 100_000
#: after Redis failed, use process memory alone this long before trying it again
REDIS_RETRY_SECONDS = 30.0


class DocumentRefused(ApiError):
    """A request whose document cannot be had: unknown hash, not in the trusted list."""

    def __init__(self, code: str, message: str, **extensions: object) -> None:
        self.code = code
        super().__init__(message, **extensions)


def not_in_list() -> DocumentRefused:
    """The refusal of a document outside the trusted manifest."""
    return DocumentRefused(
        PERSISTED_QUERY_NOT_IN_LIST, "Only the trusted documents of this API may run"
    )


class PersistedDocuments:
    """The trusted manifest and the APQ registry of one instance."""

    def __init__(
        self,
        trusted: Mapping[str, str] | None = None,
        *,
        trusted_only: bool = False,
        redis: Redis | None = None,
    ) -> None:
        self.trusted: dict[str, str] = dict(trusted or {})
        self.trusted_texts = frozenset(self.trusted.values())
        self.trusted_only = trusted_only
        self._redis = redis
        self._registered: OrderedDict[str, str] = OrderedDict()
        self._redis_down_until = 0.0

    def allows(self, text: str) -> bool:
        """Whether ``text`` may run (always, unless only trusted documents may)."""
        return not self.trusted_only or text in self.trusted_texts

    async def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> str | None:
        """The document text a request runs; raises :class:`DocumentRefused` or BAD_USER_INPUT.

        ``extensions`` may carry ``documentId`` (``sha256:<hex>``, moved there from the request
        body) or Apollo's ``persistedQuery``; without either, ``query`` is returned as it is.
        """
        extensions = extensions or {}
        document_id = extensions.get("documentId")
        persisted = extensions.get("persistedQuery")
        if document_id is None and persisted is None:
            return query
        digest = _document_id_hash(document_id) if document_id is not None else _apq_hash(persisted)
        if query is not None:
            if document_hash(query) != digest:
                raise BadUserInput(
                    "The provided sha256Hash does not match the query",
                    field="extensions.persistedQuery.sha256Hash",
                )
            if not self.trusted_only and digest not in self.trusted:
                await self._register(digest, query)
            return query
        text = self.trusted.get(digest)
        if text is not None:
            return text
        if self.trusted_only:
            raise not_in_list()
        text = await self._lookup(digest)
        if text is None:
            raise DocumentRefused(PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound")
        return text

    async def _register(self, digest: str, text: str) -> None:
        if len(text) > MAX_DOCUMENT_CHARS:
            return
        self._remember(digest, text)
        if self._redis_usable():
            assert self._redis is not None
            try:
                await self._redis.set(REDIS_KEY.format(hash=digest), text, ex=REDIS_TTL_SECONDS)
            except (RedisError, OSError):
                self._redis_failed()

    async def _lookup(self, digest: str) -> str | None:
        text = self._registered.get(digest)
        if text is not None:
            self._registered.move_to_end(digest)
            return text
        if not self._redis_usable():
            return None
        assert self._redis is not None
        try:
            found: Any = await self._redis.get(REDIS_KEY.format(hash=digest))
        except (RedisError, OSError):
            self._redis_failed()
            return None
        if isinstance(found, bytes):
            found = found.decode("utf-8")
        if not isinstance(found, str) or document_hash(found) != digest:
            return None
        self._remember(digest, found)
        return found

    def _remember(self, digest: str, text: str) -> None:
        self._registered[digest] = text
        self._registered.move_to_end(digest)
        while len(self._registered) > MAX_REGISTERED:
            self._registered.popitem(last=False)

    def _redis_usable(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._redis_down_until

    def _redis_failed(self) -> None:
        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        log.warning(
            "persisted queries: Redis did not answer; process memory only for %ds",
            REDIS_RETRY_SECONDS,
            exc_info=True,
        )


def _document_id_hash(document_id: object) -> str:
    if isinstance(document_id, str):
        digest = document_id.removeprefix("sha256:").lower()
        if document_id.startswith("sha256:") and _is_sha256(digest):
            return digest
    raise BadUserInput("documentId must be sha256:<64 hex digits>", field="documentId")


def _apq_hash(persisted: object) -> str:
    if not isinstance(persisted, Mapping):
        raise BadUserInput(
            "extensions.persistedQuery must be an object", field="extensions.persistedQuery"
        )
    if persisted.get("version") != 1:
        raise BadUserInput(
            "Unsupported persisted query version", field="extensions.persistedQuery.version"
        )
    digest = persisted.get("sha256Hash")
    if isinstance(digest, str) and _is_sha256(digest.lower()):
        return digest.lower()
    raise BadUserInput(
        "sha256Hash must be 64 hex digits", field="extensions.persistedQuery.sha256Hash"
    )


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)

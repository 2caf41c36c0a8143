"""Trusted documents: the manifest of the operations a first-party client was built with.

Two formats are read: graphql-codegen's client preset ``persisted-documents.json``
(``{"<sha256 hex>": "<document>"}``) and Apollo's ``persisted-query-manifest.json``
(``{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "name",
"type", "body"}]}``). Every id must be the SHA-256 of its document, so a request naming a
document by hash gets exactly that text.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
APOLLO_FORMAT = "apollo-persisted-query-manifest"


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file and the problem."""


def document_hash(text: str) -> str:
    """The SHA-256 of a document's text, lowercase hex (the APQ and manifest id)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_manifest(path: str | Path) -> dict[str, str]:
    """The manifest's documents by SHA-256 hex; :class:`ManifestError` when it is unusable."""
    try:
        raw: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{path}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise ManifestError(f"{path}: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: expected a JSON object")
    if raw.get("format") == APOLLO_FORMAT:
        if raw.get("version") != 1:
            raise ManifestError(f"{path}: only version 1 of {APOLLO_FORMAT} is understood")
        operations = raw.get("operations")
        if not isinstance(operations, list):
            raise ManifestError(f"{path}: `operations` must be a list")
        pairs = []
        for operation in operations:
            if not isinstance(operation, dict):
                raise ManifestError(f"{path}: every operation must be an object")
            pairs.append((operation.get("id"), operation.get("body")))
    else:
        pairs = list(raw.items())
    documents: dict[str, str] = {}
    for key, body in pairs:
        if not isinstance(key, str) or not _SHA256.match(key.removeprefix("sha256:")):
            raise ManifestError(f"{path}: {key!r} is not a SHA-256 hex id")
        if not isinstance(body, str) or not body.strip():
            raise ManifestError(f"{path}: the document of {key} is not a string")
        digest = key.removeprefix("sha256:")
        if document_hash(body) != digest:
            raise ManifestError(f"{path}: {digest} is not the SHA-256 of its document")
        documents[digest] = body
    return documents

"""Parsed and validated documents, kept by their text so each is prepared once.

What a document's text alone decides (its syntax tree, graphql-core's validation, whether it
introspects, how many operations it holds, the limits when it has no variables) is worked out on
first sight and kept. What depends on the viewer (the introspection policy) or on the variables
(the cost of ``first: $n``, the variables' strings) is still decided on every request, from the
kept facts. Bounded: the least recently used document goes first; trusted documents are pinned.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from graphql import DocumentNode, FieldNode, OperationDefinitionNode, VariableDefinitionNode

#: distinct documents kept besides the pinned ones
DEFAULT_MAX_DOCUMENTS = 1000


@dataclass(frozen=True, slots=True)
class KnownDocument:
    """A document that parsed, validated and, with the variables it came with, kept its limits."""

    document: DocumentNode
    #: the first ``__schema``/``__type`` field, for the per-viewer introspection policy
    introspection_field: FieldNode | None
    operations: int
    #: with variables the cost depends on them: the limits are measured again per request
    has_variables: bool


def known_document(document: DocumentNode, introspection_field: FieldNode | None) -> KnownDocument:
    """The facts kept about ``document``."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    has_variables = any(
        isinstance(v, VariableDefinitionNode)
        for operation in operations
        for v in operation.variable_definitions or ()
    )
    return KnownDocument(document, introspection_field, len(operations), has_variables)


class DocumentCache:
    """Known documents by their text: a bounded LRU, plus pinned entries that never leave."""

    def __init__(self, max_documents: int = DEFAULT_MAX_DOCUMENTS) -> None:
        self.max_documents = max_documents
        self._recent: OrderedDict[str, KnownDocument] = OrderedDict()
        self._pinned: dict[str, KnownDocument] = {}
        self._pin_texts: frozenset[str] = frozenset()

    def pin(self, texts: frozenset[str]) -> None:
        """Keep these texts forever once prepared (the trusted documents)."""
        self._pin_texts = texts

    def get(self, text: str) -> KnownDocument | None:
        """The known document of ``text``, or None."""
        found = self._pinned.get(text)
        if found is not None:
            return found
        found = self._recent.get(text)
        if found is not None:
            self._recent.move_to_end(text)
        return found

    def put(self, text: str, document: KnownDocument) -> None:
        """Remember ``document`` under ``text``; the least recently used go beyond the bound."""
        if text in self._pin_texts:
            self._pinned[text] = document
            return
        self._recent[text] = document
        self._recent.move_to_end(text)
        while len(self._recent) > self.max_documents:
            self._recent.popitem(last=False)

    def __len__(self) -> int:
        return len(self._recent) + len(self._pinned)

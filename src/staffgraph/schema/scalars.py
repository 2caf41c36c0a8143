"""Helpers shared by the schema modules."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import cast

import strawberry

from staffgraph.resolvers.validation import parse_id

__all__ = ["parse_id", "to_id"]

#: ``str`` itself, typed as making an ID (``strawberry.ID`` is a ``NewType`` of ``str``, and
#: calling it is one more Python call per id)
_as_id = cast("Callable[[object], strawberry.ID]", str)
#: the text of each standard-library UUID met, bounded: ``uuid.UUID.__str__`` is written in
#: Python (about 0.6 us), and a page writes some 150 ids, mostly the same ones again
_texts: dict[uuid.UUID, strawberry.ID] = {}
MAX_TEXTS = 16_384


def to_id(value: uuid.UUID) -> strawberry.ID:
    """A UUID as a GraphQL ID."""
    if type(value) is not uuid.UUID:
        return _as_id(value)  # asyncpg's UUIDs write their text in C
    text = _texts.get(value)
    if text is None:
        if len(_texts) >= MAX_TEXTS:
            _texts.clear()
        text = _texts[value] = _as_id(value)
    return text

"""Helpers shared by the schema modules."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import cast

import strawberry

from staffgraph.resolvers.validation import parse_id
from staffgraph.uuid_texts import uuid_text

__all__ = ["parse_id", "to_id"]

#: a UUID as a GraphQL ID: its text (``strawberry.ID`` is a ``NewType`` of ``str``, and calling
#: it would be one more Python call for each of a page's ids)
to_id = cast("Callable[[uuid.UUID], strawberry.ID]", uuid_text)

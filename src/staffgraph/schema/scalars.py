"""Helpers shared by the schema modules."""

from __future__ import annotations

import uuid

import strawberry

from staffgraph.errors import BadUserInput


def to_id(value: uuid.UUID) -> strawberry.ID:
    """A UUID as a GraphQL ID."""
    return strawberry.ID(str(value))


def parse_id(value: str, field: str) -> uuid.UUID:
    """A GraphQL ID argument as a UUID, or BAD_USER_INPUT naming ``field``."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadUserInput(f"{field} is not a valid id", field=field) from None

"""Helpers shared by the schema modules."""

from __future__ import annotations

import uuid

import strawberry

from staffgraph.resolvers.validation import parse_id

__all__ = ["parse_id", "to_id"]


def to_id(value: uuid.UUID) -> strawberry.ID:
    """A UUID as a GraphQL ID."""
    return strawberry.ID(str(value))

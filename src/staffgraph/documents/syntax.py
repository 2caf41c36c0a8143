"""Walking a GraphQL syntax tree."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import Node


def nodes(tree: Any) -> Iterator[Node]:
    """Every node of ``tree`` (a node, or a list of them), itself included, depth first."""
    stack: list[Any] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, Node):
            yield item
            stack.extend(getattr(item, key, None) for key in item.keys)
        elif isinstance(item, tuple | list):
            stack.extend(item)

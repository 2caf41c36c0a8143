"""Load the viewer's management subtree before a query runs, when its fields will need it.

A rule such as ``self | HR | management chain`` answers at once when the subtree is loaded,
and otherwise hands graphql-core an awaitable, which makes it schedule a task per field: on a
page of 50 users with phone and salary, that costs more than every rule together. So before a
query executes, its document is scanned for fields whose rule, for this viewer's roles, still
depends on the chain (``phone`` for an EMPLOYEE, not for HR); if there is one, the subtree's
single recursive query runs first and every check after it is synchronous.

Where the operation is a page of users and reads wait for a server (PostgreSQL), a round trip
costs more than the subtree's statement: there the page reads the subtree in its own statement
(:func:`~staffgraph.resolvers.directory.list_users`), before any of its fields is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphql import DocumentNode, FieldNode, Node

from staffgraph.models import Role
from staffgraph.permissions.install import guarded_fields
from staffgraph.permissions.rules import InManagementChain, Rule

if TYPE_CHECKING:
    import strawberry

    from staffgraph.context import Context


class ChainFields:
    """Which field names may need the management chain, for each set of roles."""

    def __init__(self, schema: strawberry.Schema) -> None:
        self._rules: dict[str, list[Rule]] = {}
        for _, field_name, _, guard in guarded_fields(schema):
            if guard is not None and guard.rule.mentions(InManagementChain):
                self._rules.setdefault(field_name, []).append(guard.checked_first)
        self._by_roles: dict[frozenset[Role], frozenset[str]] = {}

    def for_roles(self, roles: frozenset[Role]) -> frozenset[str]:
        """Names of fields whose rule, for a viewer with ``roles``, looks at the chain."""
        names = self._by_roles.get(roles)
        if names is None:
            names = self._by_roles[roles] = frozenset(
                name
                for name, rules in self._rules.items()
                if any(_needs_chain(rule, roles) for rule in rules)
            )
        return names


def _needs_chain(rule: Rule, roles: frozenset[Role]) -> bool:
    rest = rule.specialise(roles)
    return not isinstance(rest, bool) and rest.mentions(InManagementChain)


def selected_names(document: DocumentNode) -> frozenset[str]:
    """The name of every field the document selects, fragments included."""
    names: set[str] = set()
    stack: list[Any] = list(document.definitions)
    while stack:
        node = stack.pop()
        if isinstance(node, FieldNode):
            names.add(node.name.value)
        selection_set = getattr(node, "selection_set", None)
        if isinstance(selection_set, Node):
            stack.extend(selection_set.selections)  # type: ignore[attr-defined]
    return frozenset(names)


async def prefetch_chain(
    ctx: Context,
    selected: frozenset[str],
    fields: ChainFields,
    *,
    with_page: Callable[[], bool] | None = None,
) -> bool:
    """Load the viewer's subtree now if the query selects (``selected``: its field names) a
    field that needs it. ``with_page``, asked only then: whether the operation's page reads it
    instead (:func:`~staffgraph.resolvers.directory.subtree_read_with_page`); if so it is only
    noted."""
    viewer = ctx.viewer
    if viewer is None or ctx.subordinates_if_loaded() is not None:
        return False
    if fields.for_roles(viewer.roles).isdisjoint(selected):
        return False
    if with_page is not None and with_page():
        ctx.subtree_with_page = True
        return False
    await ctx.subordinates()
    return True

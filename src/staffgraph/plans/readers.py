"""Fields that are an attribute read, for a viewer's roles: a plain attribute, or a guarded one
whose rule the roles decide in the viewer's favour.

A guarded attribute checks its rule on every object: on a page of 50 users as HR, some 500
checks whose answer the roles settled before the first (``self | HR`` is True for HR whoever
the target). The rule itself says so: :meth:`~staffgraph.permissions.rules.Rule.specialise`,
which ``Rule.compile`` runs once per set of roles too, gives True. For such a field the plan
reads the attribute, exactly as the guard does once it allows; where the roles leave anything
to the target (``self | HR | management chain`` for a MANAGER) or deny, the guard runs as ever,
and so do its denial, audit event and metric.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLField

from staffgraph.models import Role
from staffgraph.permissions.guard import GUARD_KEY, Guard

#: an attribute read: its name, and the conversion of a value that is not None
Reader = tuple[str, Callable[[Any], Any] | None]


def plain_reader(field_def: GraphQLField) -> Reader | None:
    """The attribute strawberry's own resolver reads, for a field without a resolver."""
    resolve = field_def.resolve
    if not getattr(resolve, "_is_default", False):
        return None
    definition = (field_def.extensions or {}).get("strawberry-definition")
    if (
        definition is None
        or not definition.is_basic_field
        or definition.default_resolver is not getattr
        or definition.extensions
    ):
        return None
    return definition.python_name, None


def attribute_guard(resolve: Any) -> Guard | None:
    """The guard of a guarded attribute, when ``resolve`` (a graphql-core resolver) is that
    guard's very resolver."""
    guard = getattr(resolve, "__dict__", {}).get(GUARD_KEY)
    if isinstance(guard, Guard) and guard.attr is not None and guard.resolve is resolve:
        return guard
    return None


def guarded_reader(guard: Guard, roles: frozenset[Role] | None) -> Reader | None:
    """The attribute ``guard`` reads, when its rule allows a viewer with ``roles`` (None:
    anonymous) on every target; else None (the guard must run)."""
    rule = guard.rule
    allowed = rule.always_allows or (roles is not None and rule.specialise(roles) is True)
    return (guard.attr, guard.convert) if allowed and guard.attr is not None else None

"""What a viewer's roles let a plan do without a field's guard: read a plain attribute or a
guarded one, or call a guarded field's business resolver, when the rule is decided in the
viewer's favour.

A guarded attribute checks its rule on every object: on a page of 50 users as HR, some 500
checks whose answer the roles settled before the first (``self | HR`` is True for HR whoever
the target). The rule itself says so: :meth:`~staffgraph.permissions.rules.Rule.specialise`,
which ``Rule.compile`` runs once per set of roles too, gives True. For such a field the plan
reads the attribute, exactly as the guard does once it allows; where the roles leave anything
to the target (``self | HR | management chain`` for a MANAGER) or deny, the guard runs as ever,
and so do its denial, audit event and metric.

A guarded field with a resolver (``manager``, ``department``) is called the same way: the
business resolver itself, with strawberry's ``Info`` made once per field and request instead
of once per object, where the guard would check the rule and make that ``Info`` for every one
of the page's users.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from graphql import GraphQLField

from staffgraph.models import Role
from staffgraph.permissions.guard import GUARD_KEY, INFO_MAKER_KEY, Guard

#: an attribute read: its name, and the conversion of a value that is not None
Reader = tuple[str, Callable[[Any], Any] | None]
#: a guarded resolver's guard, and the maker of its business resolver's strawberry ``Info``
ResolverGuard = tuple[Guard, Callable[[Any], Any]]
#: a business resolver called as ``(root, info)``, and the maker of the ``info`` it takes
Call = tuple[Callable[[Any, Any], Any], Callable[[Any], Any]]


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


def resolver_guard(resolve: Any) -> ResolverGuard | None:
    """The guard of a guarded field with a business resolver, and its ``Info`` maker, when
    ``resolve`` is the resolver :func:`~staffgraph.permissions.install.install_guards` gave
    the field (which checks nothing after the business resolver is called but the rule)."""
    found = getattr(resolve, "__dict__", {})
    guard, make_info = found.get(GUARD_KEY), found.get(INFO_MAKER_KEY)
    if (
        isinstance(guard, Guard)
        and guard.resolver is not None
        and not guard.on_target
        and make_info is not None
    ):
        return guard, make_info
    return None


def _allowed(guard: Guard, roles: frozenset[Role] | None) -> bool:
    """Whether ``guard``'s rule allows a viewer with ``roles`` (None: anonymous) on every
    target."""
    rule = guard.rule
    return rule.always_allows or (roles is not None and rule.specialise(roles) is True)


def guarded_reader(guard: Guard, roles: frozenset[Role] | None) -> Reader | None:
    """The attribute ``guard`` reads, when its rule allows a viewer with ``roles`` (None:
    anonymous) on every target; else None (the guard must run)."""
    if guard.attr is None or not _allowed(guard, roles):
        return None
    return guard.attr, guard.convert


def allowed_call(found: ResolverGuard, roles: frozenset[Role] | None) -> Call | None:
    """The business resolver of ``found``'s guard as ``(root, info)``, when its rule allows a
    viewer with ``roles`` on every target; else None (the guard must run)."""
    guard, make_info = found
    resolver = guard.resolver
    if resolver is None or not _allowed(guard, roles):
        return None
    function: Callable[..., Any] = getattr(resolver, "__func__", resolver)  # a staticmethod's
    parameters = list(inspect.signature(function).parameters)
    if parameters == ["root", "info"]:
        return function, make_info
    if parameters == ["info"]:
        return (lambda root, info: function(info=info)), make_info
    return (lambda root, info: function(root=root, info=info)), make_info

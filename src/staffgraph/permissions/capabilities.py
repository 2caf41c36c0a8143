"""What the viewer may do, told in advance: the rules of fields and mutations, asked.

``viewerCan`` fields answer with :func:`~staffgraph.permissions.guard.decide`, the check the
guards themselves run, so a capability and the guard it predicts cannot disagree. The rules of
a type's fields are read from the built schema (:func:`field_rules`), so a field added to the
type is listed without a second copy of its rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import strawberry

from staffgraph.permissions.guard import decide
from staffgraph.permissions.install import guarded_fields
from staffgraph.permissions.rules import Rule

if TYPE_CHECKING:
    from staffgraph.context import Context

FieldRules = tuple[tuple[str, Rule], ...]


def field_rules(schema: strawberry.Schema) -> dict[str, FieldRules]:
    """Object type name -> (GraphQL field name, rule) of each of its guarded fields, in the
    schema's order."""
    found: dict[str, list[tuple[str, Rule]]] = {}
    for type_name, field_name, _, guard in guarded_fields(schema):
        if guard is not None:
            found.setdefault(type_name, []).append((field_name, guard.rule))
    return {type_name: tuple(rules) for type_name, rules in found.items()}


async def readable_fields(
    ctx: Context, rules: Sequence[tuple[str, Rule]], target: Any
) -> list[str]:
    """The names of the fields whose rule allows the viewer on ``target``: exactly those a
    query would get without a denial."""
    readable = []
    for name, rule in rules:
        decision = decide(ctx, rule, target)
        # only the management chain is awaited, and it is loaded once per request
        if decision if isinstance(decision, bool) else await decision:
            readable.append(name)
    return readable

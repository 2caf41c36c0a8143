"""Hand every guarded field's check straight to graphql-core once the schema is built.

strawberry calls each resolver through a generic path (an ``Info`` object, argument
conversion, field extensions): a few microseconds per field, which on a page of users with a
dozen guarded fields each costs more than the rules themselves. Guarded fields without
arguments need none of it, so their graphql-core resolver is replaced by the guard itself: the
same rule and the same business resolver, called directly. Fields with arguments keep
strawberry's path, which converts their inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from staffgraph.permissions.guard import GUARD_KEY, INFO_MAKER_KEY, Guard, direct_resolver


def guard_of(graphql_field: Any) -> Guard | None:
    """The :class:`Guard` a schema field was built with, or None."""
    definition = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField):
        return None
    guard = definition.metadata.get(GUARD_KEY)
    return guard if isinstance(guard, Guard) else None


def guarded_fields(schema: strawberry.Schema) -> list[tuple[str, str, Any, Guard | None]]:
    """(type name, field name, graphql-core field, guard) for every object field of ``schema``."""
    found = []
    for type_name, graphql_type in schema._schema.type_map.items():
        if not isinstance(graphql_type, GraphQLObjectType) or type_name.startswith("__"):
            continue
        for field_name, graphql_field in graphql_type.fields.items():
            found.append((type_name, field_name, graphql_field, guard_of(graphql_field)))
    return found


def install_guards(schema: strawberry.Schema) -> int:
    """Install the direct resolvers; returns how many fields got one."""
    info_class = schema.config.info_class
    installed = 0
    for _, _, graphql_field, guard in guarded_fields(schema):
        if guard is None or guard.resolve is None or graphql_field.args:
            continue
        if graphql_field.subscribe is not None:
            continue  # its resolver is the event stream, not the value of each event
        definition = graphql_field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
        make_info = _info_maker(info_class, definition)
        resolve = direct_resolver(guard, make_info)
        # lets the schema tests prove the resolver graphql-core runs is this guard's
        resolve.__dict__.setdefault(GUARD_KEY, guard)
        if guard.resolver is not None:
            # lets a plan call the business resolver itself where the roles allow
            resolve.__dict__[INFO_MAKER_KEY] = make_info
        graphql_field.resolve = resolve
        installed += 1
    return installed


def _info_maker(info_class: type, definition: StrawberryField) -> Callable[[Any], Any]:
    def make_info(info: GraphQLResolveInfo) -> Any:
        return info_class(_raw_info=info, _field=definition)

    return make_info

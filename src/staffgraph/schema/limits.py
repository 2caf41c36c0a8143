"""Document limits: directives, aliases, repeated fields, depth and cost.

Checked on the parsed document before the standard validation rules, so an oversized document
is refused with a single ``GRAPHQL_VALIDATION_FAILED`` error and nothing runs. The token limit
is enforced earlier, by the parser itself (see :mod:`staffgraph.schema.security`).

Cost: every field costs 1 plus the cost of its selection; a list multiplies the cost of its
selection by its size, which is the field's ``first`` or ``last`` argument (a variable is read
from the request; with neither, the connection's default page size), the parent connection's
page size for ``edges``, the number of ``ids`` for ``nodes``, or ``default_list_size`` for
lists nothing bounds (``reports``, ``departments``...).
Introspection (``__schema``, ``__type``) is left to graphql-core's MaxIntrospectionDepthRule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
)

from staffgraph.resolvers.nodes import MAX_NODES
from staffgraph.schema.connections import PAGE_SIZE_KEY

if TYPE_CHECKING:
    from staffgraph.settings import Settings

INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})
#: costs saturate here so a fragment bomb stays cheap to compute
_COST_CEILING = 10**15


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """The document limits, from the ``STAFFGRAPH_MAX_*`` settings."""

    max_depth: int = 10
    max_aliases: int = 15
    max_directives: int = 5
    max_duplicate_fields: int = 10
    max_cost: int = 5000
    default_list_size: int = 20

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryLimits:
        """The limits configured in ``settings``."""
        return cls(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_directives=settings.max_directives,
            max_duplicate_fields=settings.max_duplicate_fields,
            max_cost=settings.max_cost,
            default_list_size=settings.default_list_size,
        )


def limit_error(message: str, limit: str, node: Node | None = None, **details: Any) -> GraphQLError:
    """The one error a document over a limit gets."""
    return GraphQLError(
        message,
        nodes=[node] if node is not None else None,
        extensions={"code": "GRAPHQL_VALIDATION_FAILED", "limit": limit, **details},
    )


def check_limits(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    limits: QueryLimits,
) -> GraphQLError | None:
    """The first limit ``document`` exceeds, as an error; None when it is within every limit."""
    for check in (_check_directives, _check_duplicates):
        error = check(document, limits)
        if error is not None:
            return error
    # variables that are not an object are refused by the request guard; measure without
    given = variables if isinstance(variables, Mapping) else {}
    measure = _Measure(schema, document, given, limits.default_list_size)
    try:
        for operation in document.definitions:
            if not isinstance(operation, OperationDefinitionNode):
                continue
            root = schema.get_root_type(operation.operation)
            totals = measure.selection(operation.selection_set, root, None)
            if totals.aliases > limits.max_aliases:
                return limit_error(
                    f"The operation uses {totals.aliases} aliases; at most "
                    f"{limits.max_aliases} are allowed.",
                    "aliases",
                    operation,
                    max=limits.max_aliases,
                )
            if totals.depth > limits.max_depth:
                return limit_error(
                    f"The operation is nested {totals.depth} levels deep; at most "
                    f"{limits.max_depth} are allowed.",
                    "depth",
                    operation,
                    max=limits.max_depth,
                )
            if totals.cost > limits.max_cost:
                return limit_error(
                    f"The operation's estimated cost is {totals.cost}; the budget is "
                    f"{limits.max_cost}. Ask for smaller pages (`first`) or fewer nested lists.",
                    "cost",
                    operation,
                    max=limits.max_cost,
                    cost=totals.cost,
                )
    except RecursionError:
        return limit_error("The document is nested too deeply.", "depth")
    return None


def _check_directives(document: DocumentNode, limits: QueryLimits) -> GraphQLError | None:
    for node in _walk(document):
        directives: tuple[DirectiveNode, ...] = getattr(node, "directives", None) or ()
        if len(directives) > limits.max_directives:
            return limit_error(
                f"{len(directives)} directives on one location; at most "
                f"{limits.max_directives} are allowed.",
                "directives",
                node,
                max=limits.max_directives,
            )
    return None


def _check_duplicates(document: DocumentNode, limits: QueryLimits) -> GraphQLError | None:
    fragments = _fragments(document)
    keys_of_fragment: dict[str, Counter[str]] = {}

    def keys(selection_set: SelectionSetNode, seen: frozenset[str]) -> Counter[str]:
        found: Counter[str] = Counter()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                found[(selection.alias or selection.name).value] += 1
            elif isinstance(selection, InlineFragmentNode):
                found.update(keys(selection.selection_set, seen))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:
                    continue  # unknown fragments and cycles are reported by validation
                if name not in keys_of_fragment:
                    keys_of_fragment[name] = keys(fragment.selection_set, seen | {name})
                found.update(keys_of_fragment[name])
        return found

    try:
        for node in _walk(document):
            if not isinstance(node, SelectionSetNode):
                continue
            counts = keys(node, frozenset())
            if not counts:
                continue
            key, count = counts.most_common(1)[0]
            if count > limits.max_duplicate_fields:
                return limit_error(
                    f"'{key}' is selected {count} times in one selection set; at most "
                    f"{limits.max_duplicate_fields} are allowed.",
                    "duplicate_fields",
                    node,
                    max=limits.max_duplicate_fields,
                )
    except RecursionError:
        return limit_error("The document is nested too deeply.", "depth")
    return None


@dataclass(frozen=True, slots=True)
class _Totals:
    cost: int = 0
    depth: int = 0
    aliases: int = 0


class _Measure:
    """Cost, depth and aliases of selection sets, fragments measured once per list hint."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any],
        default_list_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = _fragments(document)
        self.variables = dict(variables)
        for operation in document.definitions:
            if isinstance(operation, OperationDefinitionNode):
                for definition in operation.variable_definitions or ():
                    name = definition.variable.name.value
                    default = definition.default_value
                    if name not in self.variables and isinstance(default, IntValueNode):
                        self.variables[name] = int(default.value)
        self.default_list_size = default_list_size
        self.memo: dict[tuple[str, int | None], _Totals] = {}
        self.visiting: set[str] = set()

    def selection(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, hint: int | None
    ) -> _Totals:
        cost = depth = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                part = self.field(selection, parent, hint)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                part = self.selection(selection.selection_set, inner, hint)
            else:
                part = self.spread(selection.name.value, hint)  # type: ignore[attr-defined]
            cost = min(cost + part.cost, _COST_CEILING)
            depth = max(depth, part.depth)
            aliases += part.aliases
        return _Totals(cost, depth, aliases)

    def spread(self, name: str, hint: int | None) -> _Totals:
        fragment = self.fragments.get(name)
        if fragment is None or name in self.visiting:
            return _Totals()  # unknown fragments and cycles are reported by validation
        key = (name, hint)
        if key not in self.memo:
            self.visiting.add(name)
            try:
                parent = self.schema.get_type(fragment.type_condition.name.value)
                self.memo[key] = self.selection(fragment.selection_set, parent, hint)
            finally:
                self.visiting.discard(name)
        return self.memo[key]

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, hint: int | None) -> _Totals:
        alias = 1 if node.alias is not None else 0
        if node.name.value in INTROSPECTION_ROOTS:
            return _Totals(0, 0, alias)
        definition = (
            parent.fields.get(node.name.value)
            if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
            else None
        )
        field_type = definition.type if definition is not None else None
        is_list = isinstance(get_nullable_type(field_type), GraphQLList)
        child_hint: int | None = None
        size = 1
        if definition is not None and "first" in definition.args:
            first = self.page_size(node, definition.args["first"])
            if is_list:
                size = first
            else:
                child_hint = first  # a connection: its `edges` list is this long
        elif definition is not None and is_list and "ids" in definition.args:
            size = self.ids(node)
        elif is_list:
            size = hint if hint is not None else self.default_list_size
        inner = _Totals()
        if node.selection_set is not None:
            child_type = get_named_type(field_type) if field_type is not None else None
            inner = self.selection(node.selection_set, child_type, child_hint)
        return _Totals(
            min(1 + size * inner.cost, _COST_CEILING),
            1 + inner.depth,
            alias + inner.aliases,
        )

    def argument(self, node: FieldNode, name: str) -> Any:
        """The value of argument ``name`` as written or passed in a variable, or None."""
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            if isinstance(argument.value, VariableNode):
                return self.variables.get(argument.value.name.value)
            if isinstance(argument.value, IntValueNode):
                return int(argument.value.value)
            return argument.value
        return None

    def page_size(self, node: FieldNode, first: GraphQLArgument) -> int:
        """The page size a connection asks for: ``first``, else ``last`` (each a literal or
        a variable), else the default page size its ``first`` argument carries."""
        for name in ("first", "last"):
            value = self.argument(node, name)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, value)
        value = first.default_value
        if not isinstance(value, int) or isinstance(value, bool):
            definition = (first.extensions or {}).get("strawberry-definition")
            value = getattr(definition, "metadata", {}).get(PAGE_SIZE_KEY)
        if not isinstance(value, int) or isinstance(value, bool):
            value = self.default_list_size
        return max(0, value)

    def ids(self, node: FieldNode) -> int:
        """How many objects ``nodes(ids:)`` asks for (the most it allows when unknown)."""
        value = self.argument(node, "ids")
        if isinstance(value, ListValueNode):
            return len(value.values)
        if isinstance(value, list):
            return len(value)
        return MAX_NODES


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _walk(root: Node) -> list[Node]:
    """Every node below ``root`` (iteratively: deep documents must not exhaust the stack)."""
    found: list[Node] = []
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, Node):
            found.append(item)
            stack.extend(getattr(item, key, None) for key in item.keys)
        elif isinstance(item, tuple | list):
            stack.extend(item)
    return found

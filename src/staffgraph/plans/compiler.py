"""Compile a query document into a plan: its fields collected once, each with its resolver,
arguments and the completion of its type.

graphql-core works all of this out again for every request and every object: which fields a
selection holds after fragments and ``@skip``/``@include`` (memoised per request), the field's
definition, its arguments, a resolve info and a path for every field of every object, and the
kind of its type at every step of value completion. For a document whose every answer depends
only on its text, none of that changes between requests; the plan keeps it. Variables may
give arguments (``first: $n``): those fields' arguments are worked out again per request, the
rest of the plan stays.

What a plan does not cover is left to graphql-core: :func:`compile_plan` returns None for
anything but a query, ``@skip``/``@include`` with a variable (the fields would depend on the
request), introspection, abstract types (interfaces, unions), ``@defer``/``@stream``, or
graphql-core's ``@experimental_disableErrorPropagation``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetails, collect_fields
from graphql.execution.executor import Executor, to_nodes
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path

from staffgraph.documents.syntax import nodes
from staffgraph.models import Role
from staffgraph.permissions.guard import Guard
from staffgraph.plans.readers import (
    Reader,
    ResolverGuard,
    allowed_call,
    attribute_guard,
    guarded_reader,
    plain_reader,
    resolver_guard,
)

#: scalars whose output coercion returns a ``str`` unchanged
STRING_SCALARS = (GraphQLString, GraphQLID)


class NotPlannable(Exception):
    """The document holds something a plan does not cover; graphql-core runs it."""


@dataclass(slots=True)
class LeafShape:
    """A scalar or enum: coerced for output."""

    leaf: GraphQLLeafType
    #: ``str`` values go out unchanged (String, ID)
    strings_as_is: bool


@dataclass(slots=True)
class ListShape:
    """A list: each item completed with ``item``."""

    item: Shape
    item_non_null: bool


@dataclass(slots=True)
class ObjectShape:
    """An object type: its selection executed on the value."""

    object_type: GraphQLObjectType
    selection: ObjectPlan


Shape = LeafShape | ListShape | ObjectShape
#: each field's resolver, by index, and where it takes strawberry's ``Info``: the field's
#: index and the maker of that ``Info`` from graphql-core's
Calls = tuple[list[Callable[..., Any]], list[tuple[int, Callable[[Any], Any]]]]


@dataclass(slots=True)
class FieldPlan:
    """One response key of a selection."""

    key: str
    #: position of this field's resolve info in a run's list of infos
    index: int
    field_def: GraphQLField
    field_nodes: list[FieldNode]
    #: graphql-core's details of the field (for its errors)
    field_details: list[FieldDetails]
    parent_type: GraphQLObjectType
    resolve: Callable[..., Any]
    #: coerced argument values, by their Python name (empty: called without, unless dynamic)
    args: dict[str, Any]
    non_null: bool
    shape: Shape | None
    #: for ``__typename``: the answer itself
    typename: str | None = None
    #: the path of the first place this field answers at, for the resolve info
    info_path: Path | None = None
    #: for a leaf: its type's output coercion, and whether a ``str`` goes out as it is
    coerce: Callable[[Any], Any] | None = None
    strings_as_is: bool = False
    #: the attribute strawberry reads for a field without a resolver
    plain: Reader | None = None
    #: arguments that use variables: worked out again for every request
    dynamic: bool = False
    #: the guard of a guarded attribute (read directly for roles its rule allows)
    guard: Guard | None = None
    #: the guard of a guarded resolver without arguments, and its ``Info`` maker (its
    #: business resolver called directly for roles its rule allows)
    resolver_guard: ResolverGuard | None = None


@dataclass(slots=True)
class ObjectPlan:
    """The fields of one selection on one object type, in response order."""

    object_type: GraphQLObjectType
    fields: list[FieldPlan] = field(default_factory=list)
    #: the type's ``is_type_of`` check, when it has one, with the info of the field above
    is_type_of: Callable[..., Any] | None = None


@dataclass(slots=True)
class Plan:
    """A query compiled for execution (see :mod:`staffgraph.plans.runner`)."""

    schema: GraphQLSchema
    document: DocumentNode
    operation: OperationDefinitionNode
    operation_name: str | None
    root: ObjectPlan
    #: every field of the plan, indexed like a run's infos
    fields: list[FieldPlan]
    fragments: dict[str, Any]
    #: every field name the query selects (see ``Context.selected``)
    selected: frozenset[str]
    #: per set of roles (None: anonymous), each field's attribute read, or None to resolve it
    readers: dict[frozenset[Role] | None, list[Reader | None]] = field(default_factory=dict)
    #: per set of roles, what :meth:`calls_for` answers
    calls: dict[frozenset[Role] | None, Calls] = field(default_factory=dict)
    #: per set of roles, what :meth:`shared_for` answers
    shared: dict[frozenset[Role] | None, frozenset[int]] = field(default_factory=dict)

    def readers_for(self, roles: frozenset[Role] | None) -> list[Reader | None]:
        """What a viewer with ``roles`` reads directly, indexed like the plan's fields."""
        found = self.readers.get(roles)
        if found is None:
            found = self.readers[roles] = [
                f.plain
                if f.plain is not None
                else guarded_reader(f.guard, roles)
                if f.guard is not None
                else None
                for f in self.fields
            ]
        return found

    def shared_for(self, roles: frozenset[Role] | None) -> frozenset[int]:
        """The selections (by ``id``) whose answer for a viewer with ``roles`` is the same
        wherever one object meets them: every field a leaf read directly (a plain attribute, or
        a guarded one the roles settle) or ``__typename``. Nothing of theirs checks a rule,
        calls a resolver or waits, so an object met again (the manager of fifty people) is
        answered once per request (see ``_Run.complete``)."""
        found = self.shared.get(roles)
        if found is None:
            readers = self.readers_for(roles)
            found = self.shared[roles] = frozenset(
                id(selection)
                for selection in self.selections()
                if all(
                    f.typename is not None
                    or (readers[f.index] is not None and isinstance(f.shape, LeafShape))
                    for f in selection.fields
                )
            )
        return found

    def selections(self) -> list[ObjectPlan]:
        """Every selection of the plan, the root's first."""
        found = [self.root]
        for f in self.fields:
            shape = f.shape
            while isinstance(shape, ListShape):
                shape = shape.item
            if isinstance(shape, ObjectShape):
                found.append(shape.selection)
        return found

    def calls_for(self, roles: frozenset[Role] | None) -> Calls:
        """What a viewer with ``roles`` calls for each field without a direct read, as
        ``(root, info)``: its business resolver where the rule allows (with strawberry's
        ``Info``, made by the maker given with its index), else the field's resolver (with
        graphql-core's info)."""
        found = self.calls.get(roles)
        if found is None:
            resolves: list[Callable[..., Any]] = []
            makers: list[tuple[int, Callable[[Any], Any]]] = []
            for f in self.fields:
                call = allowed_call(f.resolver_guard, roles) if f.resolver_guard else None
                if call is None:
                    resolves.append(f.resolve)
                else:
                    resolves.append(call[0])
                    makers.append((f.index, call[1]))
            found = self.calls[roles] = (resolves, makers)
        return found


def compile_plan(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None = None,
) -> Plan | None:
    """The plan of ``document``'s operation ``operation_name``, or None when graphql-core must
    run it (see the module's docstring). ``variables``: values the operation's variables
    accept (one request's), to collect its fields with; the plan depends on none of them."""
    try:
        return _Compiler(schema, document, operation_name, variables).plan()
    except (NotPlannable, GraphQLError):
        return None


def uses_variables(node: Any) -> bool:
    """Whether a syntax tree (an argument value, a directive) refers to a variable."""
    return any(isinstance(item, VariableNode) for item in nodes(node))


def _selection_directives(document: DocumentNode) -> list[DirectiveNode]:
    """Every directive on a field, fragment spread or inline fragment of ``document``."""
    return [
        directive
        for node in nodes(document)
        if isinstance(node, FieldNode | FragmentSpreadNode | InlineFragmentNode)
        for directive in node.directives or ()
    ]


class _Compiler:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> None:
        built = Executor.build(schema, document, None, None, dict(variables or {}), operation_name)
        if not isinstance(built, Executor):
            raise NotPlannable("the operation cannot run with these variables")
        operation = built.operation
        if operation.operation is not OperationType.QUERY:
            raise NotPlannable("only queries")
        if any(uses_variables(d) for d in _selection_directives(document)):
            # which fields a selection holds would depend on the request
            raise NotPlannable("a directive with a variable")
        if not built.error_propagation:
            raise NotPlannable("error propagation disabled")
        self.schema = schema
        self.document = document
        self.operation_name = operation_name
        self.executor = built
        self.fields: list[FieldPlan] = []
        self.selected: set[str] = set()

    def plan(self) -> Plan:
        executor = self.executor
        root_type = self.schema.query_type
        assert root_type is not None
        grouped, defer_usages, _ = collect_fields(
            self.schema, executor.fragments, executor.variable_values, root_type, executor.operation
        )
        if defer_usages:
            raise NotPlannable("@defer")
        root = self._selection(root_type, grouped, None)
        return Plan(
            schema=self.schema,
            document=self.document,
            operation=executor.operation,
            operation_name=self.operation_name,
            root=root,
            fields=self.fields,
            fragments=executor.fragment_definitions,
            selected=frozenset(self.selected),
        )

    def _selection(
        self,
        object_type: GraphQLObjectType,
        grouped: dict[str, list[FieldDetails]],
        path: Path | None,
    ) -> ObjectPlan:
        is_type_of = object_type.is_type_of
        if is_type_of is not None and inspect.iscoroutinefunction(is_type_of):
            raise NotPlannable("asynchronous is_type_of")
        selection = ObjectPlan(object_type, is_type_of=is_type_of)
        for key, details in grouped.items():
            if any(d.defer_usage is not None for d in details):
                raise NotPlannable("@defer")
            node = details[0].node
            name = node.name.value
            self.selected.add(name)
            if name == "__typename":
                selection.fields.append(self._typename(key, object_type, details))
                continue
            if name.startswith("__"):
                raise NotPlannable("introspection")
            field_def = self.schema.get_field(object_type, name)
            if field_def is None:
                continue  # graphql-core skips a field the type does not have
            field_path = Path(path, key, object_type.name)
            dynamic = uses_variables(node.arguments)
            args = (
                get_argument_values(field_def, node, self.executor.variable_values)
                if (field_def.args or node.arguments) and not dynamic
                else {}
            )
            return_type = field_def.type
            non_null = isinstance(return_type, GraphQLNonNull)
            plan = FieldPlan(
                key=key,
                index=len(self.fields),
                field_def=field_def,
                field_nodes=to_nodes(details),
                field_details=details,
                parent_type=object_type,
                resolve=field_def.resolve or self.executor.field_resolver,
                args=args,
                non_null=non_null,
                shape=None,
                info_path=field_path,
                plain=plain_reader(field_def),
                guard=attribute_guard(field_def.resolve),
                resolver_guard=None if field_def.args else resolver_guard(field_def.resolve),
                dynamic=dynamic,
            )
            self.fields.append(plan)
            output = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
            plan.shape = self._shape(output, details, field_path)
            if isinstance(plan.shape, LeafShape):
                plan.coerce = plan.shape.leaf.coerce_output_value
                plan.strings_as_is = plan.shape.strings_as_is
            selection.fields.append(plan)
        return selection

    def _typename(
        self, key: str, object_type: GraphQLObjectType, details: list[FieldDetails]
    ) -> FieldPlan:
        return FieldPlan(
            key=key,
            index=-1,
            field_def=None,  # type: ignore[arg-type]
            field_nodes=to_nodes(details),
            field_details=details,
            parent_type=object_type,
            resolve=_no_resolver,
            args={},
            non_null=True,
            shape=None,
            typename=object_type.name,
        )

    def _shape(self, output: GraphQLOutputType, details: list[FieldDetails], path: Path) -> Shape:
        if isinstance(output, GraphQLList):
            item = output.of_type
            item_non_null = isinstance(item, GraphQLNonNull)
            inner = item.of_type if item_non_null else item
            return ListShape(self._shape(inner, details, path.add_key(0)), item_non_null)
        if is_leaf_type(output):
            return LeafShape(output, output in STRING_SCALARS)
        if isinstance(output, GraphQLObjectType):
            grouped, defer_usages, _ = self.executor.collect_subfields(output, details)
            if defer_usages:
                raise NotPlannable("@defer")
            return ObjectShape(output, self._selection(output, grouped, path))
        raise NotPlannable(f"abstract type {output}")


def _no_resolver(*_: Any) -> Any:  # pragma: no cover - __typename is answered by the plan
    raise AssertionError("__typename has no resolver")

"""Run a :class:`~staffgraph.plans.compiler.Plan`: the answer graphql-core would give, without
its per-field machinery.

Every object of the response is a loop over its selection's fields: call the resolver with the
field's resolve info (one per field of the plan and request, shared by every object that
answers it), then complete the value by the shape the plan worked out. Errors are handled as
graphql-core handles them: located at their path, a null for a nullable field, and for a
non-null one a null at the nearest nullable parent (the error raised up to it).

A resolver's awaitable is not awaited where it appears: the field gets its place in the
response and the awaitable waits, with every other one the same pass met (the whole page's, so
that DataLoaders see their keys together, as under graphql-core's gathers). Once the pass is
over they are awaited together and completed, which may leave the next round. A non-null error
completing one of them nulls the nearest nullable parent through the frames it kept (the
chain of objects and lists above it), after the round, as graphql-core records the errors of
fields that complete together before their parent is nulled; the first error to reach a parent
is the one reported, and whatever waits below a parent so nulled is dropped.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from graphql import GraphQLError, GraphQLSchema, OperationDefinitionNode, located_error
from graphql.execution.executor import invalid_return_type_error
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Undefined, is_iterable
from graphql.pyutils import inspect as inspect_value
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo as ResolveInfo

from staffgraph.plans.awaitables import NEVER_AWAITABLE, is_awaitable
from staffgraph.plans.compiler import (
    FieldPlan,
    LeafShape,
    ListShape,
    ObjectPlan,
    ObjectShape,
    Plan,
    Shape,
)

#: values a leaf's coercion takes as they are (anything else goes through ``complete``)
_LEAF_VALUES = frozenset({str, int, float, bool, uuid.UUID, datetime, date})


class Unplannable(Exception):
    """A value the plan cannot complete (an asynchronous iterable for a list): the operation
    runs through graphql-core instead."""


#: where an object or list sits in the response: (frame of its container, container, key,
#: whether the position is non-null, the object or list itself)
Frame = tuple[Any, Any, Any, bool, Any]
#: a response path as a chain: (parent chain, key); None at the root
Chain = tuple[Any, str | int] | None
#: a value that waits: (awaitable, container, key, non-null, field, shape, path, container's frame)
Waiting = tuple[Any, Any, Any, bool, FieldPlan, Shape | None, Chain, Frame]


def _path(chain: Chain) -> list[str | int]:
    keys: list[str | int] = []
    while chain is not None:
        chain, key = chain
        keys.append(key)
    keys.reverse()
    return keys


def _null_message(f: FieldPlan) -> str:
    return (
        f"Cannot return null for non-nullable field {f.parent_type}.{f.field_nodes[0].name.value}."
    )


#: strawberry's resolve info (graphql-core's, and the request's extensions); the plan's own
#: fields are typed looser than its annotations (no path at the root, no extensions)
_resolve_info: Any = ResolveInfo


class _Run:
    """One execution of a plan: the request's infos, the errors so far, what waits."""

    __slots__ = (
        "args",
        "call_infos",
        "calls",
        "dead",
        "errors",
        "infos",
        "readers",
        "shareable",
        "shared",
        "variables",
        "waiting",
    )

    def __init__(
        self, plan: Plan, context: Any, root_value: Any, variables: VariableValues | None
    ) -> None:
        fragments, operation, schema = plan.fragments, plan.operation, plan.schema
        self.variables = variables
        coerced = variables.coerced if variables is not None else {}
        self.infos = [
            _resolve_info(
                f.field_nodes[0].name.value,
                f.field_nodes,
                f.field_def.type,
                f.parent_type,
                f.info_path,
                schema,
                fragments,
                root_value,
                operation,
                coerced,
                context,
                is_awaitable,
                None,
                None,
                None,
            )
            for f in plan.fields
        ]
        viewer = getattr(context, "viewer", None)
        roles = viewer.roles if viewer is not None else None
        self.readers = plan.readers_for(roles)
        self.calls, makers = plan.calls_for(roles)
        self.shareable = plan.shared_for(roles)
        #: answers of shareable selections, by (selection, object) ids, with the object (kept
        #: alive here so that no other object takes its id)
        self.shared: dict[tuple[int, int], tuple[Any, dict[str, Any]]] = {}
        #: what each field's call takes: graphql-core's info, or strawberry's made from it
        self.call_infos = self.infos
        if makers:
            self.call_infos = list(self.infos)
            for index, make_info in makers:
                self.call_infos[index] = make_info(self.infos[index])
        #: the arguments of fields that use variables, by field index, once worked out (an
        #: exception: the field fails wherever it is asked, as under graphql-core)
        self.args: dict[int, dict[str, Any] | Exception] = {}
        self.errors: list[GraphQLError] = []
        self.waiting: list[Waiting] = []
        #: the objects and lists a non-null error nulled, by id (what waits below them is
        #: dropped); kept alive here so that no other object takes their id
        self.dead: dict[int, Any] = {}

    def select(
        self, selection: ObjectPlan, source: Any, chain: Chain, position: tuple[Any, ...]
    ) -> dict[str, Any]:
        """The fields of ``selection`` on ``source``, which sits at ``position`` (its frame
        without the object)."""
        result: dict[str, Any] = {}
        frame: Frame = (*position, result)
        infos, readers, calls, call_infos = self.infos, self.readers, self.calls, self.call_infos
        for f in selection.fields:
            key = f.key
            if f.typename is not None:
                result[key] = f.typename
                continue
            try:
                reader = readers[f.index]
                if reader is not None:
                    value = getattr(source, reader[0])
                    if reader[1] is not None and value is not None:
                        value = reader[1](value)
                elif f.args:
                    value = f.resolve(source, infos[f.index], **f.args)
                elif f.dynamic:
                    value = f.resolve(source, infos[f.index], **self.arguments(f))
                else:
                    value = calls[f.index](source, call_infos[f.index])
                kind = type(value)
                # most of a response: a leaf with a plain value, completed here
                if kind is str and f.strings_as_is:
                    result[key] = value
                    continue
                if f.coerce is not None and kind in _LEAF_VALUES:
                    coerced = f.coerce(value)
                    if coerced is not None and coerced is not Undefined:
                        result[key] = coerced
                        continue
                if kind not in NEVER_AWAITABLE and is_awaitable(value):
                    result[key] = None
                    self.waiting.append(
                        (value, result, key, f.non_null, f, f.shape, (chain, key), frame)
                    )
                    continue
                result[key] = self.complete(f, f.shape, f.non_null, value, (chain, key), frame)
            except Unplannable:
                raise
            except Exception as raw:
                error = located_error(raw, f.field_nodes, _path((chain, key)))
                if f.non_null:
                    raise error from None
                self.errors.append(error)
                result[key] = None
        return result

    def arguments(self, f: FieldPlan) -> dict[str, Any]:
        """The arguments of a field that uses variables, for this request's values."""
        found = self.args.get(f.index)
        if found is None:
            try:
                found = get_argument_values(f.field_def, f.field_nodes[0], self.variables)
            except Exception as exc:
                found = exc
            self.args[f.index] = found
        if isinstance(found, Exception):
            raise found
        return found

    def complete(
        self,
        f: FieldPlan,
        shape: Shape | None,
        non_null: bool,
        value: Any,
        chain: tuple[Any, str | int],
        frame: Frame,
    ) -> Any:
        """``value`` completed for ``shape`` at ``chain`` in the container of ``frame``;
        raises for an error, or a null at a non-null position."""
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            if non_null:
                raise TypeError(_null_message(f))
            return None
        if type(shape) is LeafShape:
            if shape.strings_as_is and type(value) is str:
                return value
            coerced = shape.leaf.coerce_output_value(value)
            if coerced is Undefined or coerced is None:
                raise TypeError(
                    f"Expected `{inspect_value(shape.leaf)}.coerce_output_value("
                    f"{inspect_value(value)})` to return non-nullable value, returned:"
                    f" {inspect_value(coerced)}"
                )
            return coerced
        position = (frame, frame[4], chain[1], non_null)
        if type(shape) is ListShape:
            return self._list(f, shape, value, chain, position)
        assert isinstance(shape, ObjectShape)
        selection = shape.selection
        key = (id(selection), id(value))
        if key[0] in self.shareable:
            found = self.shared.get(key)
            if found is not None:
                return found[1]
        if selection.is_type_of is not None and not selection.is_type_of(
            value, self.infos[f.index]
        ):
            raise invalid_return_type_error(shape.object_type, value, f.field_details)
        if key[0] not in self.shareable:
            return self.select(selection, value, chain, position)
        errors, waiting = len(self.errors), len(self.waiting)
        answer = self.select(selection, value, chain, position)
        # an answer with an error of its own is answered again where the object is met again,
        # for that error at each path (an answer that waits cannot be: its fields are leaves)
        if len(self.errors) == errors and len(self.waiting) == waiting:
            self.shared[key] = (value, answer)
        return answer

    def _list(
        self,
        f: FieldPlan,
        shape: ListShape,
        value: Any,
        chain: tuple[Any, str | int],
        position: tuple[Any, ...],
    ) -> list[Any]:
        if type(value) not in (list, tuple):
            if hasattr(value, "__aiter__"):
                raise Unplannable("an asynchronous iterable")
            if not is_iterable(value):
                raise GraphQLError(
                    "Expected Iterable, but did not find one for field"
                    f" '{f.parent_type}.{f.field_nodes[0].name.value}'."
                )
        items: list[Any] = []
        frame: Frame = (*position, items)
        item_shape, item_non_null = shape.item, shape.item_non_null
        for index, item in enumerate(value):
            item_chain = (chain, index)
            try:
                if type(item) not in NEVER_AWAITABLE and is_awaitable(item):
                    items.append(None)
                    self.waiting.append(
                        (item, items, index, item_non_null, f, item_shape, item_chain, frame)
                    )
                    continue
                items.append(self.complete(f, item_shape, item_non_null, item, item_chain, frame))
            except Unplannable:
                raise
            except Exception as raw:
                error = located_error(raw, f.field_nodes, _path(item_chain))
                if item_non_null:
                    raise error from None
                self.errors.append(error)
                items.append(None)
        return items

    def is_dead(self, frame: Frame | None) -> bool:
        """Whether a parent of what sits in ``frame``'s container was nulled."""
        dead = self.dead
        while frame is not None:
            if id(frame[4]) in dead:
                return True
            frame = frame[0]
        return False

    def null_parent(self, frame: Frame) -> bool:
        """Null the nearest nullable position at or above ``frame``'s container; True when
        that is the whole response (``data: null``)."""
        current: Frame | None = frame
        while current is not None:
            parent, container, key, non_null, value = current
            self.dead[id(value)] = value
            if parent is None:
                return True
            if not non_null:
                container[key] = None
                return False
            current = parent
        return True  # pragma: no cover - every chain ends at the root


async def _settle(awaitables: list[Any]) -> list[Any]:
    """Await them all (together, when several), exceptions returned as values."""
    if len(awaitables) == 1:
        try:
            return [await awaitables[0]]
        except Exception as exc:
            return [exc]
    return await asyncio.gather(*awaitables, return_exceptions=True)


async def run_plan(
    plan: Plan, context: Any, root_value: Any = None, variables: VariableValues | None = None
) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
    """``(data, errors)`` of ``plan`` for this request, as graphql-core would answer;
    ``variables``: the request's, coerced (``coerce_variables``).

    Raises :class:`Unplannable` when a value needs what the plan does not do.
    """
    run = _Run(plan, context, root_value, variables)
    data: dict[str, Any] | None
    try:
        data = run.select(plan.root, root_value, None, (None, None, None, True))
    except GraphQLError as error:
        run.errors.append(error)
        data = None
    try:
        while run.waiting and data is not None:
            waiting, run.waiting = run.waiting, []
            values = await _settle([w[0] for w in waiting])
            # as under graphql-core, what completed together is recorded before any of it nulls
            # a parent: a nullable field's error stays, a non-null one nulls after the round
            bubbles: list[tuple[GraphQLError, Frame]] = []
            for (_, container, key, non_null, f, shape, chain, frame), value in zip(
                waiting, values, strict=True
            ):
                if run.is_dead(frame):
                    continue  # graphql-core drops what completes below a nulled parent
                try:
                    if isinstance(value, BaseException) and not isinstance(value, Exception):
                        raise value
                    container[key] = run.complete(f, shape, non_null, value, chain, frame)  # type: ignore[arg-type]
                except Unplannable:
                    raise
                except Exception as raw:
                    located = located_error(raw, f.field_nodes, _path(chain))
                    if non_null:
                        bubbles.append((located, frame))
                    else:
                        run.errors.append(located)
                        container[key] = None
            for located, frame in bubbles:
                # the first error to reach a parent nulls it; others below it are dropped
                if run.is_dead(frame):
                    continue
                run.errors.append(located)
                if run.null_parent(frame):
                    data = None
                    break
    finally:
        if run.waiting:  # nothing of theirs is answered any more; they still run to their end
            await _settle([w[0] for w in run.waiting])
    return data, run.errors


def coerce_variables(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    hide_suggestions: bool = False,
) -> VariableValues | None:
    """The request's variables coerced for ``operation``, as graphql-core coerces them; None
    when they are refused (graphql-core then answers with its errors)."""
    coerced = get_variable_values(
        schema,
        operation.variable_definitions or (),
        dict(variables or {}),
        max_errors=50,
        hide_suggestions=hide_suggestions,
    )
    return None if isinstance(coerced, list) else coerced

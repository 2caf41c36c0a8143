"""The graphql-core executor the schema runs with: strawberry's, with two shortcuts.

- **Rows are not awaited** (:mod:`staffgraph.plans.awaitables`): on a page of 50 users, that
  was some 150 tasks for nothing (``node`` of every edge, ``manager``, ``department``).
- **Leaves of plain fields resolve inline.** graphql-core spends a few microseconds on every
  field (a resolve info, a path, the type checks of value completion), most of a page of
  users. A scalar or enum field without arguments whose resolver reads nothing but
  ``info.context`` (a guarded attribute, or strawberry's plain attribute) is resolved with one
  info per field of the selection and completed with graphql-core's own
  ``complete_leaf_value``. An awaitable, an exception or a null on a non-null field goes back
  to graphql-core's own handling, with the real path, so answers and errors are the same
  (``tests/test_execution.py`` compares both executors on every query of the suite's shape).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLLeafType, GraphQLNonNull, GraphQLObjectType, is_leaf_type
from graphql.execution.executor import to_nodes
from graphql.pyutils import Path, Undefined
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from staffgraph.permissions.guard import GUARD_KEY
from staffgraph.plans.awaitables import NEVER_AWAITABLE, is_awaitable
from staffgraph.plans.readers import attribute_guard


def reads_only_context(resolve: Any) -> bool:
    """Whether a graphql-core resolver reads nothing of its info but ``context``: a guarded
    attribute, or strawberry's resolver of a plain attribute (which reads nothing at all)."""
    if GUARD_KEY in getattr(resolve, "__dict__", {}):
        return attribute_guard(resolve) is not None
    return getattr(resolve, "_is_default", False) is True


#: a field of a selection resolved inline: response key, its field details, the resolver,
#: the field's type, its leaf type, and the info every object of the selection shares
_Leaf = tuple[str, Any, Any, Any, GraphQLLeafType, Any]
#: None: the field goes through graphql-core's ``execute_field``
_Step = tuple[str, Any, _Leaf | None]


class StaffExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor with :func:`is_awaitable` and inline leaves."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_awaitable = is_awaitable
        #: per selection (grouped field set) of this operation: its steps, and the set itself
        #: (kept alive, so that its id names it for as long as this executor lives)
        self._steps: dict[int, tuple[Any, list[_Step]]] = {}
        middleware = self.middleware_manager
        self._inline = middleware is None or not getattr(middleware, "_middleware_resolvers", None)

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: Any, path: Path | None
    ) -> list[_Step]:
        steps: list[_Step] = []
        for response_name, field_details_list in grouped_field_set.items():
            first = field_details_list[0]
            field_def = self.schema.get_field(parent_type, first.node.name.value)
            leaf: _Leaf | None = None
            if (
                field_def is not None
                and not field_def.args
                and not first.node.arguments
                and all(d.defer_usage is None for d in field_details_list)
                and reads_only_context(field_def.resolve)
            ):
                return_type = field_def.type
                named = (
                    return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
                )
                if is_leaf_type(named):
                    info = self.build_resolve_info(
                        field_def,
                        to_nodes(field_details_list),
                        parent_type,
                        Path(path, response_name, parent_type.name),
                    )
                    leaf = (
                        response_name,
                        field_details_list,
                        field_def.resolve,
                        return_type,
                        named,
                        info,
                    )
            steps.append((response_name, field_details_list, leaf))
        return steps

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        if not self._inline or position_context is not None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        known = self._steps.get(id(grouped_field_set))
        if known is None:
            known = (grouped_field_set, self._plan(parent_type, grouped_field_set, path))
            self._steps[id(grouped_field_set)] = known
        steps = known[1]
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        complete_leaf = self.complete_leaf_value
        try:
            for response_name, field_details_list, leaf in steps:
                if leaf is not None:
                    _, _, resolve, return_type, named, info = leaf
                    try:
                        value = resolve(source_value, info)
                        if value is not None and type(value) in NEVER_AWAITABLE:
                            results[response_name] = complete_leaf(named, value)
                            continue
                    except Exception as raw_error:
                        self.handle_field_error(
                            raw_error,
                            return_type,
                            field_details_list,
                            Path(path, response_name, parent_type.name),
                        )
                        results[response_name] = None
                        continue
                    # null, an awaitable, an exception as a value, anything unusual: as
                    # graphql-core completes it, at its real path
                    result = self._complete_resolved(
                        parent_type,
                        source_value,
                        path,
                        response_name,
                        field_details_list,
                        return_type,
                        value,
                        position_context,
                    )
                else:
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        field_details_list,
                        Path(path, response_name, parent_type.name),
                        position_context,
                    )
                    if result is Undefined:
                        continue
                results[response_name] = result
                if self.is_awaitable(result):
                    awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def _complete_resolved(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        response_name: str,
        field_details_list: Any,
        return_type: Any,
        value: Any,
        position_context: Any,
    ) -> Any:
        """The rest of graphql-core's ``execute_field`` for a value resolved already."""
        field_path = Path(path, response_name, parent_type.name)
        field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
        assert field_def is not None
        info = self.build_resolve_info(
            field_def, to_nodes(field_details_list), parent_type, field_path
        )
        try:
            if self.is_awaitable(value):
                return self.complete_awaitable_value(
                    return_type, field_details_list, info, field_path, value, position_context
                )
            completed = self.complete_value(
                return_type, field_details_list, info, field_path, value, position_context
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, field_path)
            return None
        return completed

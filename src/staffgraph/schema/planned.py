"""Queries answered by a compiled plan (:mod:`staffgraph.plans`), around it the very steps
the schema's extensions take around graphql-core.

A request may use a plan when its document is known already (parsed, validated and its limits
measured by the :class:`~staffgraph.schema.security.RequestGuard`, so nothing of the guard is
left to decide but what depends on the viewer or the variables) and does not introspect, when it
names its operation or holds one, and when the schema runs only its own extensions
(OpenTelemetry adds a span extension: its requests keep the extension path). With variables,
what the guard decides per request is decided here the same way (the limits, the strings,
graphql-core's coercion): a request any of them refuses goes the extension path, which refuses
it with the very errors it always gave. The
steps, in the extensions' order: the operation begins on its context (``OperationScope``), the
chain is prefetched (``ChainPrefetch``), the plan runs, errors get their codes (``ErrorCodes``),
queued denials are written (``DenialAudit``), the operation is recorded and hints stripped
(``RequestGuard``), events published (``PublishEvents``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, get_operation_ast
from graphql.execution.values import VariableValues
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from staffgraph.context import Context
from staffgraph.permissions.prefetch import prefetch_chain
from staffgraph.plans.compiler import Plan
from staffgraph.plans.runner import Unplannable, coerce_variables, run_plan
from staffgraph.realtime.publishing import publish_committed
from staffgraph.resolvers.audit import flush_denials
from staffgraph.resolvers.directory import subtree_read_with_page
from staffgraph.schema.extensions import classify
from staffgraph.schema.input_strings import check_input_strings
from staffgraph.schema.limits import QueryLimits, check_limits
from staffgraph.schema.security import hides_schema, record_operation, strip_suggestions

if TYPE_CHECKING:
    from collections.abc import Iterable

    from staffgraph.schema import StaffSchema


def plan_for(
    schema: StaffSchema,
    query: str | None,
    variables: Any,
    context: Any,
    operation_name: str | None,
    allowed: Iterable[OperationType] | None,
) -> tuple[Plan, VariableValues | None] | None:
    """The plan this request may run and its variables, coerced; None when it goes through
    graphql-core (which also answers every refusal: the checks here only decide)."""
    plans, documents = schema.plans, schema.documents
    if (
        plans is None
        or documents is None
        or type(context) is not Context
        or not isinstance(query, str)
        or (allowed is not None and OperationType.QUERY not in allowed)
        or tuple(schema.extensions) != schema.planned_extensions
    ):
        return None
    known = documents.get(query)
    if (
        known is None
        or known.introspection_field is not None
        or (known.operations > 1 and operation_name is None)
        or not context.services.documents.allows(query)
    ):
        return None
    coerced = None
    if variables is not None and not isinstance(variables, Mapping):
        return None  # the guard refuses it
    if variables and not known.has_variables:
        return None  # the guard checks the strings of variables nothing declares
    if known.has_variables:
        # what the request guard decides again for every request with variables
        settings = context.services.settings
        if check_limits(
            schema._schema, known.document, variables, QueryLimits.from_settings(settings)
        ) or check_input_strings(known.document, variables):
            return None
        operation = get_operation_ast(known.document, operation_name)
        if operation is None:
            return None
        coerced = coerce_variables(schema._schema, operation, variables, hides_schema(settings))
        if coerced is None:
            return None
    plan = plans.get(query, operation_name, known.document, variables)
    return None if plan is None else (plan, coerced)


async def execute_planned(
    schema: StaffSchema,
    plan: Plan,
    variables: VariableValues | None,
    context: Context,
    root_value: Any,
) -> ExecutionResult | None:
    """The result of ``plan`` for this request; None when a value needs graphql-core after all
    (the operation then runs on the extension path, as if no plan existed)."""
    context.begin_operation()
    denials = len(context.pending_denials)
    try:
        context.selected = plan.selected
        if schema.chain_fields is not None:
            await prefetch_chain(
                context,
                plan.selected,
                schema.chain_fields,
                with_page=functools.partial(subtree_read_with_page, plan.operation),
            )
        data, errors = await run_plan(plan, context, root_value, variables)
    except Unplannable:
        del context.pending_denials[denials:]
        return None
    except Exception as exc:  # as strawberry answers an extension's failure: no data
        data, errors = None, [exc if isinstance(exc, GraphQLError) else _error(exc)]
    if errors:
        errors = [classify(error, context.request_id) for error in errors]
    if context.pending_denials:
        await flush_denials(context)
    operation = plan.operation
    record_operation(context, operation.name.value if operation.name else "-", "query")
    if errors and hides_schema(context.services.settings):
        for error in errors:
            error.message = strip_suggestions(error.message)
    if context.outbox:
        await publish_committed(context)
    return ExecutionResult(data=data, errors=errors or None)


def _error(exc: Exception) -> GraphQLError:
    return GraphQLError(str(exc), original_error=exc)

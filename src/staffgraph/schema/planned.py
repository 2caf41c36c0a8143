"""Queries answered by a compiled plan (:mod:`staffgraph.plans`), around it the very steps
the schema's extensions take around graphql-core.

A request may use a plan when its document is known already (parsed, validated and its limits
measured by the :class:`~staffgraph.schema.security.RequestGuard`, so nothing of the guard is
left to decide but what depends on the viewer or the variables), has no variables and does not
introspect, when it names its operation or holds one, and when the schema runs only its own
extensions (OpenTelemetry adds a span extension: its requests keep the extension path). The
steps, in the extensions' order: the operation begins on its context (``OperationScope``), the
chain is prefetched (``ChainPrefetch``), the plan runs, errors get their codes (``ErrorCodes``),
queued denials are written (``DenialAudit``), the operation is recorded and hints stripped
(``RequestGuard``), events published (``PublishEvents``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from staffgraph.context import Context
from staffgraph.permissions.prefetch import prefetch_chain
from staffgraph.plans.compiler import Plan
from staffgraph.plans.runner import Unplannable, run_plan
from staffgraph.realtime.publishing import publish_committed
from staffgraph.resolvers.audit import flush_denials
from staffgraph.schema.extensions import classify
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
) -> Plan | None:
    """The plan this request may run, or None when it goes through graphql-core."""
    plans, documents = schema.plans, schema.documents
    if (
        plans is None
        or documents is None
        or type(context) is not Context
        or not isinstance(query, str)
        or variables
        or (allowed is not None and OperationType.QUERY not in allowed)
        or tuple(schema.extensions) != schema.planned_extensions
    ):
        return None
    known = documents.get(query)
    if (
        known is None
        or known.has_variables
        or known.introspection_field is not None
        or (known.operations > 1 and operation_name is None)
        or not context.services.documents.allows(query)
    ):
        return None
    return plans.get(query, operation_name, known.document)


async def execute_planned(
    schema: StaffSchema, plan: Plan, context: Context, root_value: Any
) -> ExecutionResult | None:
    """The result of ``plan`` for this request; None when a value needs graphql-core after all
    (the operation then runs on the extension path, as if no plan existed)."""
    context.begin_operation()
    denials = len(context.pending_denials)
    try:
        context.selected = plan.selected
        if schema.chain_fields is not None:
            await prefetch_chain(context, plan.selected, schema.chain_fields)
        data, errors = await run_plan(plan, context, root_value)
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

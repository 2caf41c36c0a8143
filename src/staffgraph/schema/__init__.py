"""The GraphQL shape: types, inputs, queries, mutations, extensions; builds the Schema."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from staffgraph.context import Context
from staffgraph.documents.cache import DocumentCache
from staffgraph.permissions.capabilities import FieldRules, field_rules
from staffgraph.permissions.install import install_guards
from staffgraph.permissions.prefetch import ChainFields
from staffgraph.plans.plan_cache import PlanCache
from staffgraph.schema.execution import StaffExecutor
from staffgraph.schema.extensions import (
    ChainPrefetch,
    DenialAudit,
    ErrorCodes,
    OperationScope,
    PublishEvents,
)
from staffgraph.schema.mutations import Mutation
from staffgraph.schema.planned import execute_planned, plan_for
from staffgraph.schema.queries import Query
from staffgraph.schema.security import RequestGuard
from staffgraph.schema.subscriptions import Subscription


class StaffSchema(strawberry.Schema):
    """The schema: known queries run by their compiled plan (:mod:`staffgraph.schema.planned`),
    everything else through strawberry's extensions and graphql-core; logs only what
    :class:`ErrorCodes` did not already handle."""

    #: fields that may need the viewer's management chain (see :class:`ChainPrefetch`)
    chain_fields: ChainFields | None = None
    #: documents parsed and validated already, by their text (see :class:`RequestGuard`)
    documents: DocumentCache | None = None
    #: type name -> the rule of each of its fields, for ``viewerCan`` (see ``field_rules``)
    field_rules: dict[str, FieldRules] = {}
    #: compiled plans of known queries; None: every operation goes through graphql-core
    plans: PlanCache | None = None
    #: the extensions a plan's steps stand in for (another one added, plans are not used)
    planned_extensions: tuple[Any, ...] = ()

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        planned = plan_for(
            self, query, variable_values, context_value, operation_name, allowed_operation_types
        )
        if planned is not None:
            # plan_for accepts nothing but a Context
            plan, variables = planned
            context = cast(Context, context_value)
            result = await execute_planned(self, plan, variables, context, root_value)
            if result is not None:
                return result
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed_operation_types,
            operation_extensions,
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # ErrorCodes logs unexpected errors with the request id; client errors are not
        # server problems and would flood the log.
        return None


def build_schema(*, plans: bool = True, **extra: Any) -> StaffSchema:
    """The staffgraph schema with its extensions and its guards installed in graphql-core.

    ``plans=False`` runs every operation through graphql-core (the tests that compare both).
    ``extra`` goes to strawberry (``config``; ``execution_context_class`` replaces
    :class:`~staffgraph.schema.execution.StaffExecutor`, for the tests that compare it with
    strawberry's own).
    """
    extra.setdefault("execution_context_class", StaffExecutor)
    schema = StaffSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # OperationScope first: every other extension sees the operation's own state and a
        # viewer re-checked for it; PublishEvents ends last, once the operation's writes are
        # over (the ACCESS_DENIED rows of DenialAudit included); RequestGuard's checks run
        # before the others, its cleanup after them
        extensions=[
            OperationScope,
            PublishEvents,
            RequestGuard,
            DenialAudit,
            ErrorCodes,
            ChainPrefetch,
        ],
        **extra,
    )
    install_guards(schema)
    schema.chain_fields = ChainFields(schema)
    schema.field_rules = field_rules(schema)
    schema.documents = DocumentCache()
    if plans:
        schema.plans = PlanCache(schema._schema)
        schema.planned_extensions = tuple(schema.extensions)
    return schema


def schema_sdl() -> str:
    """The printed SDL, permission directives included (``staffgraph export-schema``)."""
    return build_schema().as_str() + "\n"

"""Schema extensions: error codes on every error, and the ACCESS_DENIED audit flush."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator

from graphql import GraphQLError, GraphQLSyntaxError, get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from staffgraph.context import Context
from staffgraph.db_faults import is_database_unavailable
from staffgraph.errors import (
    BAD_USER_INPUT,
    INTERNAL_SERVER_ERROR,
    PUBLIC_CODES,
    RETRY_AFTER_SECONDS,
    SERVICE_UNAVAILABLE,
)
from staffgraph.permissions.prefetch import prefetch_chain, selected_names
from staffgraph.realtime.publishing import publish_committed
from staffgraph.resolvers.audit import flush_denials
from staffgraph.resolvers.directory import subtree_read_with_page

log = logging.getLogger("staffgraph.errors")

GENERIC_MESSAGE = "Internal server error"
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; try again later"
_VARIABLE_RE = re.compile(r"^Variable '\$(\w+)'")


def classify(error: GraphQLError, request_id: str) -> GraphQLError:
    """``error`` with its ``extensions.code``; an unexpected one masked and logged."""
    code = (error.extensions or {}).get("code")
    if code in PUBLIC_CODES:
        return error
    original = error.original_error
    if original is None:
        error.extensions = {
            **(error.extensions or {}),
            "code": "GRAPHQL_PARSE_FAILED"
            if isinstance(error, GraphQLSyntaxError)
            else "GRAPHQL_VALIDATION_FAILED",
        }
        return error
    if isinstance(original, GraphQLError) and original.extensions:
        inner = original.extensions.get("code")
        if inner in PUBLIC_CODES:
            error.extensions = {**original.extensions}
            return error
    if is_database_unavailable(original):
        # not a bug: one line in the log, and the view turns the response into a 503
        log.warning(
            "database unavailable at %s (request %s): %r",
            ".".join(str(p) for p in error.path or []) or "-",
            request_id,
            original,
        )
        return GraphQLError(
            UNAVAILABLE_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": SERVICE_UNAVAILABLE, "retryAfter": RETRY_AFTER_SECONDS},
        )
    if error.path is None and isinstance(original, GraphQLError):
        # graphql-core refusing a variable's value (wrong type, unknown input field): the
        # request is at fault, not the server
        variable = _VARIABLE_RE.match(error.message)
        error.extensions = {
            **(error.extensions or {}),
            "code": BAD_USER_INPUT,
            **({"field": variable.group(1)} if variable else {}),
        }
        return error
    log.error(
        "unexpected error at %s (request %s)",
        ".".join(str(p) for p in error.path or []) or "-",
        request_id,
        exc_info=(type(original), original, original.__traceback__),
    )
    return GraphQLError(
        GENERIC_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": INTERNAL_SERVER_ERROR, "requestId": request_id},
    )


class ErrorCodes(SchemaExtension):
    """Give every error a code; mask the unexpected ones (details only in the log)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            context = self.execution_context.context
            request_id = getattr(context, "request_id", "")
            result.errors = [classify(e, request_id) for e in errors]


class DenialAudit(SchemaExtension):
    """Write the ACCESS_DENIED events the operation queued, once it has run."""

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        if getattr(context, "pending_denials", None):
            await flush_denials(context)


class PublishEvents(SchemaExtension):
    """Publish what the operation changed once it has ended, if it committed (see
    :mod:`staffgraph.realtime.publishing`)."""

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        if isinstance(context, Context) and context.outbox:
            await publish_committed(context)


class OperationScope(SchemaExtension):
    """Begin every operation on its context (see :meth:`Context.begin_operation`)."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            context.begin_operation()
        yield


class ChainPrefetch(SchemaExtension):
    """Before a query runs, note the field names it selects (``Context.selected``) and load
    the viewer's management subtree if its fields need it, so that every rule answers
    synchronously (see :mod:`staffgraph.permissions.prefetch`)."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        fields = getattr(execution.schema, "chain_fields", None)
        document = execution.graphql_document
        context = execution.context
        if (
            fields is not None
            and document is not None
            and isinstance(context, Context)
            and execution.operation_type is OperationType.QUERY
        ):
            context.selected = selected_names(document)
            # mutations may change the tree: their fields load it lazily, afterwards
            name = execution.operation_name
            await prefetch_chain(
                context,
                context.selected,
                fields,
                with_page=lambda: subtree_read_with_page(get_operation_ast(document, name)),
            )
        yield

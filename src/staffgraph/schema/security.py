"""The request guard: token, introspection, document and input checks before execution.

Order, each refusal being the operation's only error and nothing executing:

1. parsing stops after ``STAFFGRAPH_MAX_TOKENS`` tokens (comments included);
2. ``__schema`` / ``__type`` per ``STAFFGRAPH_INTROSPECTION`` (``__typename`` always allowed);
   then several operations without an ``operationName`` (the spec's error);
3. the document limits of :mod:`staffgraph.schema.limits`;
4. graphql-core's validation, without "Did you mean" hints unless introspection is public;
5. every input string (:mod:`staffgraph.schema.input_strings`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSyntaxError,
    validate,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from staffgraph.documents.cache import DocumentCache, KnownDocument, known_document
from staffgraph.documents.persisted import not_in_list
from staffgraph.documents.syntax import nodes
from staffgraph.errors import INTERNAL_SERVER_ERROR, PUBLIC_CODES, SERVICE_UNAVAILABLE, BadUserInput
from staffgraph.schema.extensions import GENERIC_MESSAGE, classify
from staffgraph.schema.input_strings import check_input_strings
from staffgraph.schema.limits import INTROSPECTION_ROOTS, QueryLimits, check_limits, limit_error

if TYPE_CHECKING:
    from strawberry.types import ExecutionContext

    from staffgraph.settings import Settings

_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_PARSER_LIMIT = re.compile(r"Document contains more than \d+ tokens")
_DEFAULT_LIMITS = QueryLimits()
_DEFAULT_MAX_TOKENS = 2000
#: a schema built without a cache (tests of single pieces) remembers nothing
_NO_CACHE = DocumentCache(max_documents=0)


def strip_suggestions(message: str) -> str:
    """``message`` without graphql-core's "Did you mean ...?" hints."""
    return _SUGGESTION.sub("", message)


def hides_schema(settings: Settings | None) -> bool:
    """Whether error messages must not hint at the schema (introspection is not public)."""
    return settings is not None and settings.introspection != "public"


def _settings_of(execution_context: ExecutionContext) -> Settings | None:
    services = getattr(execution_context.context, "services", None)
    return getattr(services, "settings", None)


def introspection_field(document: DocumentNode) -> FieldNode | None:
    """The first ``__schema`` or ``__type`` field of ``document``, or None."""
    for node in _fields(document):
        if node.name.value in INTROSPECTION_ROOTS:
            return node
    return None


def introspection_refusal(
    field: FieldNode | None, policy: str, signed_in: bool
) -> GraphQLError | None:
    """The error for a document introspecting at ``field`` when ``policy`` forbids it."""
    if field is None or policy == "public" or (policy == "authenticated" and signed_in):
        return None
    message = (
        "Introspection is disabled"
        if policy == "off"
        else "Introspection requires a signed-in user"
    )
    return limit_error(message, "introspection", field)


def _fields(document: DocumentNode) -> Iterator[FieldNode]:
    return (node for node in nodes(document) if isinstance(node, FieldNode))


class RequestGuard(SchemaExtension):
    """Refuse oversized, introspecting (when not allowed) or unclean operations unexecuted.

    A document seen before comes from the schema's :class:`DocumentCache`: it is not parsed or
    validated again, and its limits are measured again only when it has variables.
    """

    #: the cached facts of this operation's document, when it was known already
    _known: KnownDocument | None = None

    def on_operation(self) -> Iterator[None]:
        yield
        _record_operation(self.execution_context)
        # last to run (first in the list): the hints of execution-time errors, such as a
        # variable's unknown enum value, go too
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if errors and hides_schema(_settings_of(self.execution_context)):
            for error in errors:
                error.message = strip_suggestions(error.message)

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        services = getattr(ctx.context, "services", None)
        documents = getattr(services, "documents", None)
        text = ctx.query or ""
        if documents is not None and not documents.allows(text):
            raise not_in_list()  # before the text is even parsed
        known = _cache_of(ctx).get(text)
        if known is not None:
            ctx.graphql_document = known.document  # strawberry parses no more
            self._known = known
            yield
            return
        settings = _settings_of(ctx)
        max_tokens = settings.max_tokens if settings else _DEFAULT_MAX_TOKENS
        cast(dict[str, Any], ctx.parse_options)["max_tokens"] = max_tokens
        yield
        for error in self.execution_context.pre_execution_errors or ():
            if isinstance(error, GraphQLSyntaxError) and _PARSER_LIMIT.search(error.message):
                error.message = f"The document has more than {max_tokens} tokens."
                error.extensions = {
                    "code": "GRAPHQL_VALIDATION_FAILED",
                    "limit": "tokens",
                    "max": max_tokens,
                }

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.pre_execution_errors is None and ctx.graphql_document is not None:
            ctx.pre_execution_errors = self._check(ctx, ctx.graphql_document)
        yield

    def _check(self, ctx: ExecutionContext, document: DocumentNode) -> list[GraphQLError]:
        if ctx.variables is not None and not isinstance(ctx.variables, Mapping):
            # HTTP requests are checked by the view; a WebSocket message may hold anything
            return [BadUserInput("variables must be a JSON object", field="variables")]
        settings = _settings_of(ctx)
        policy = settings.introspection if settings else "public"
        signed_in = getattr(ctx.context, "viewer", None) is not None
        known = self._known
        facts = known or known_document(document, introspection_field(document))
        refusal = introspection_refusal(facts.introspection_field, policy or "public", signed_in)
        if refusal is None:
            refusal = _unnamed_choice(ctx, facts.operations)
        if refusal is None and (known is None or known.has_variables):
            # the cost of `first: $n` depends on the variables: measured on every request
            limits = QueryLimits.from_settings(settings) if settings else _DEFAULT_LIMITS
            refusal = check_limits(ctx.schema._schema, document, ctx.variables, limits)
        if refusal is not None:
            return [refusal]
        if known is None and ctx.validation_rules:
            errors = validate(
                ctx.schema._schema,
                document,
                (*ctx.validation_rules, MaybeNullValidationRule, OneOfInputValidationRule),
                hide_suggestions=hides_schema(settings),
            )
            if errors:
                return errors
        if known is not None and not ctx.variables:
            return []  # its literal strings were checked when it became known
        bad_input = check_input_strings(document, ctx.variables)
        if bad_input is not None:
            return [bad_input]
        if known is None and ctx.query:
            _cache_of(ctx).put(ctx.query, facts)
        return []


def _cache_of(ctx: ExecutionContext) -> DocumentCache:
    cache: DocumentCache | None = getattr(ctx.schema, "documents", None)
    return cache if cache is not None else _NO_CACHE


def _unnamed_choice(ctx: ExecutionContext, operations: int) -> GraphQLError | None:
    """Several operations and no ``operationName``: the spec's error (strawberry would quietly
    run the first one)."""
    # strawberry keeps the name the request gave apart from the one it would infer
    if operations > 1 and getattr(ctx, "_provided_operation_name", None) is None:
        return GraphQLError(
            "Must provide operation name if query contains multiple operations.",
            extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
        )
    return None


def _record_operation(ctx: ExecutionContext) -> None:
    try:
        name = ctx.operation_name or "-"
    except Exception:  # an unparsable document has no operation
        name = "-"
    try:
        kind = ctx.operation_type.value
    except Exception:  # no document, or no operation of that name
        kind = "unknown"
    record_operation(ctx.context, name, kind)


def record_operation(context: Any, name: str, kind: str) -> None:
    """Leave the operation name and type in the request's scope state, for the access log and
    the metrics."""
    request = getattr(context, "request", None)
    state = getattr(request, "scope", {}).get("state")
    if isinstance(state, dict):
        previous = state.get("graphql_operation")
        state["graphql_operation"] = f"{previous},{name}" if previous else name
        # for the metrics: a batch mixing queries and mutations is of the type "mixed"
        known = state.get("graphql_operation_type")
        state["graphql_operation_type"] = kind if known in (None, kind) else "mixed"


def is_service_unavailable(error: GraphQLError) -> bool:
    """Whether ``error`` says the database was down or too slow (the request answers 503)."""
    return (error.extensions or {}).get("code") == SERVICE_UNAVAILABLE


def finalize_errors(
    errors: list[GraphQLError] | None, request_id: str, hide_suggestions: bool
) -> None:
    """Last look before errors leave the server, in place: every error has a public code or is
    masked (and logged), and no hint names the schema when it is not public. A database that
    is down or too slow gives ``SERVICE_UNAVAILABLE`` (see :func:`is_service_unavailable`).

    :class:`~staffgraph.schema.extensions.ErrorCodes` does this during the operation; this
    catches what fails outside it (an extension's own exception, for one).
    """
    for index, error in enumerate(errors or ()):
        code = (error.extensions or {}).get("code")
        if code == INTERNAL_SERVER_ERROR:
            if error.message != GENERIC_MESSAGE:
                error.message = GENERIC_MESSAGE
                error.extensions = {"code": INTERNAL_SERVER_ERROR, "requestId": request_id}
        elif code not in PUBLIC_CODES:
            errors[index] = error = classify(error, request_id)  # type: ignore[index]
        if hide_suggestions:
            error.message = strip_suggestions(error.message)

"""Attach a rule to a field: the check, a ``@requires`` directive and a sentence for the docs.

Every object field and mutation in the schema is built with :func:`guarded`; a test walks the
schema and fails on any field without the directive, so an unguarded field cannot ship.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.schema_directive import Location
from strawberry.utils.str_converters import to_camel_case

from staffgraph.errors import Forbidden, Unauthenticated
from staffgraph.permissions.rules import AUTHENTICATED, Rule

if TYPE_CHECKING:
    from staffgraph.context import Context

#: ACCESS_DENIED events one request may queue; past this they are counted, not written
MAX_AUDITED_DENIALS_PER_REQUEST = 10


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    description="Who may read this field or run this mutation, as a rule expression "
    "(`|` or, `&` and; roles in capitals).",
)
class Requires:
    """The ``@requires(rule: ...)`` directive printed on every field of the schema."""

    rule: str


def denial(
    ctx: Context, rule: Rule, field: str, target_id: Any = None, audit: bool = False
) -> Exception:
    """The error for a denied field or mutation; queues an ACCESS_DENIED event if ``audit``."""
    if ctx.viewer is None:
        return Unauthenticated("Authentication required", reason=ctx.auth_error or "no_token")
    if audit:
        if len(ctx.pending_denials) < MAX_AUDITED_DENIALS_PER_REQUEST:
            ctx.pending_denials.append({"field": field, "rule": rule.label, "target_id": target_id})
        else:
            ctx.denials_dropped += 1
    return Forbidden(f"Not allowed: {field} requires {rule.label}", rule=rule.label)


def _describe(rule: Rule, description: str, verb: str) -> str:
    if rule.label == "parent":
        sentence = "Readable by whoever may read the field that returned it."
    else:
        sentence = f"{verb}: {rule.label}."
    return f"{description} {sentence}" if description else sentence


def guarded(
    rule: Rule,
    description: str = "",
    *,
    resolver: Callable[..., Any] | None = None,
    attr: str | None = None,
    convert: Callable[[Any], Any] | None = None,
    audit: bool = False,
    name: str | None = None,
    mutation: bool = False,
    on_target: bool = False,
) -> Any:
    """A strawberry field that evaluates ``rule`` before it resolves.

    - ``resolver`` given: it runs only when the rule allows. For object fields the rule sees the
      parent object (the resolver must take ``root``); for Query/Mutation fields it sees None.
    - ``attr`` given: the field reads that attribute of the parent (``convert`` maps the value).
    - neither: a rule that never denies attaches only its directive and description, keeping
      strawberry's fast path for plain attributes.

    ``audit`` writes ACCESS_DENIED events for denials of this field (sensitive data, mutations).
    ``on_target``: the rule needs the object a mutation acts on, which only the resolver can
    load; the guard then requires a signed-in viewer and the resolver must call :func:`require`
    with the loaded target before any side effect.
    """
    verb = "Allowed for" if mutation else "Readable by"
    options: dict[str, Any] = {
        "description": _describe(rule, description, verb),
        "directives": [Requires(rule=rule.label)],
    }
    if name is not None:
        options["name"] = name
    if resolver is not None:
        check_rule = AUTHENTICATED if on_target else rule
        return strawberry.field(
            resolver=_guard_resolver(check_rule, resolver, audit, rule), **options
        )
    if attr is None:
        if not rule.always_allows:
            raise ValueError("a rule that can deny needs a resolver or an attr to guard")
        return strawberry.field(**options)
    return strawberry.field(resolver=_guard_attr(rule, attr, convert, audit), **options)


def _guard_attr(
    rule: Rule, attr: str, convert: Callable[[Any], Any] | None, audit: bool
) -> Callable[..., Any]:
    check = rule.check
    field = to_camel_case(attr)

    def resolve(root: Any, info: strawberry.Info) -> Any:
        ctx = info.context
        decision = check(ctx, root)
        if decision is True:
            value = getattr(root, attr)
            return value if convert is None or value is None else convert(value)
        if decision is False:
            raise denial(ctx, rule, field, getattr(root, "id", None), audit)
        return _resolve_later(decision, ctx, root)

    async def _resolve_later(decision: Awaitable[bool], ctx: Context, root: Any) -> Any:
        if not await decision:
            raise denial(ctx, rule, field, getattr(root, "id", None), audit)
        value = getattr(root, attr)
        return value if convert is None or value is None else convert(value)

    return resolve


def _guard_resolver(
    rule: Rule, resolver: Callable[..., Any], audit: bool, declared: Rule
) -> Callable[..., Any]:
    check = rule.check
    field = to_camel_case(resolver.__name__.lstrip("_"))
    takes_root = "root" in inspect.signature(resolver).parameters
    if "info" not in inspect.signature(resolver).parameters:
        raise TypeError(f"guarded resolver {field} must take an info argument")

    @functools.wraps(resolver)
    async def wrapper(**kwargs: Any) -> Any:
        ctx = kwargs["info"].context
        target = kwargs["root"] if takes_root else None
        decision = check(ctx, target)
        if decision is not True and (decision is False or not await decision):
            raise denial(ctx, declared, field, getattr(target, "id", None), audit)
        result = resolver(**kwargs)
        return await result if inspect.isawaitable(result) else result

    return wrapper


async def require(ctx: Context, rule: Rule, target: Any, action: str, audit: bool = True) -> None:
    """Raise the denial for ``action`` unless ``rule`` allows the viewer on ``target``.

    For object-level checks inside mutations, before any side effect.
    """
    decision = rule.check(ctx, target)
    if decision is not True and (decision is False or not await decision):
        raise denial(ctx, rule, action, getattr(target, "id", None), audit)

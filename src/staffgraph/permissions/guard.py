"""Attach a rule to a field: the check, a ``@requires`` directive and a sentence for the docs.

Every object field and mutation in the schema is built with :func:`guarded`, which records a
:class:`Guard` in the field's metadata; a test walks the schema and fails on any field without
one, so an unguarded field cannot ship. :func:`staffgraph.permissions.install.install_guards`
later hands the same checks to graphql-core directly, sparing strawberry's per-field overhead.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.schema_directive import Location
from strawberry.utils.str_converters import to_camel_case

from staffgraph.errors import Forbidden, Unauthenticated
from staffgraph.observability import metrics
from staffgraph.permissions.rules import Decision, Rule

if TYPE_CHECKING:
    from staffgraph.context import Context

#: ACCESS_DENIED events one request may queue; past this they are counted, not written
MAX_AUDITED_DENIALS_PER_REQUEST = 10
#: the key of a field's :class:`Guard` in its strawberry metadata
GUARD_KEY = "staffgraph.guard"
#: the key, on a resolver :func:`~staffgraph.permissions.install.install_guards` installed,
#: of the function that makes its business resolver's strawberry ``Info``
INFO_MAKER_KEY = "staffgraph.make_info"

# The rules an ``on_target`` mutation's resolver checked with require(), to prove it did.
_target_checks: ContextVar[list[Rule] | None] = ContextVar("target_checks", default=None)


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    description="Who may read this field or run this mutation, as a rule expression "
    "(`|` or, `&` and, `not`; roles in capitals).",
)
class Requires:
    """The ``@requires(rule: ...)`` directive printed on every field of the schema."""

    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class Guard:
    """The rule of one field and how the field resolves once the rule allows."""

    rule: Rule
    #: the field's GraphQL name, used in denial messages
    field: str
    attr: str | None = None
    convert: Callable[[Any], Any] | None = None
    #: the business resolver (without the check) for computed fields
    resolver: Callable[..., Any] | None = None
    audit: bool = False
    on_target: bool = False
    #: the guarded resolver strawberry calls (None for fields whose rule never denies)
    resolve: Callable[..., Any] | None = None

    @property
    def checked_first(self) -> Rule:
        """What the guard itself checks: the whole rule, or for ``on_target`` the part that
        needs no target (the resolver checks the rest with :func:`require`)."""
        return self.rule.before_target() if self.on_target else self.rule


def denial(
    ctx: Context, rule: Rule, field: str, target_id: Any = None, audit: bool = False
) -> Exception:
    """The error for a denied field or mutation; queues an ACCESS_DENIED event if ``audit``.

    The message names the field and the rule, never the value.
    """
    if ctx.viewer is None:
        return Unauthenticated("Authentication required", reason=ctx.auth_error or "no_token")
    if audit:
        queue_denial(ctx, field, rule.label, target_id)
    metrics.denial(field, rule.label)
    return Forbidden(f"Not allowed: {field} requires {rule.label}", rule=rule.label)


def queue_denial(ctx: Context, field: str, requirement: str, target_id: Any = None) -> None:
    """Queue an ACCESS_DENIED event, written when the operation ends.

    At most :data:`MAX_AUDITED_DENIALS_PER_REQUEST` per request: a query that trips over a
    page of denied fields must not write a page of rows; the rest are counted in the last one.
    """
    if len(ctx.pending_denials) < MAX_AUDITED_DENIALS_PER_REQUEST:
        ctx.pending_denials.append({"field": field, "rule": requirement, "target_id": target_id})
    else:
        ctx.denials_dropped += 1


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
    subscription: bool = False,
) -> Any:
    """A strawberry field that evaluates ``rule`` before it resolves.

    - ``resolver`` given: it runs only when the rule allows. For object fields the rule sees the
      parent object (the resolver must take ``root``); for Query/Mutation fields it sees None.
    - ``attr`` given: the field reads that attribute of the parent (``convert`` maps the value).
    - neither: a rule that never denies attaches only its directive and description, keeping
      strawberry's fast path for plain attributes.

    ``audit`` writes ACCESS_DENIED events for denials of this field (sensitive data, mutations).
    ``subscription``: ``resolver`` is the event stream of a ``Subscription`` field; the rule is
    checked when the client subscribes, and each event's fields by their own rules.
    ``on_target``: the rule needs the object a mutation acts on, which only the resolver can
    load; the guard checks the part of the rule that needs no target (``MANAGER`` of
    ``MANAGER & management chain``) and the resolver must call :func:`require` with this same
    rule and the loaded target before any side effect (a resolver that forgets fails loudly).
    """
    verb = "Allowed for" if mutation else "Readable by"
    options: dict[str, Any] = {
        "description": _describe(rule, description, verb),
        "directives": [Requires(rule=rule.label)],
    }
    if name is not None:
        options["name"] = name
    if resolver is not None:
        field = name or to_camel_case(resolver.__name__.lstrip("_"))
        takes_root = "root" in inspect.signature(resolver).parameters
        if rule.needs_target and not takes_root and not on_target:
            raise ValueError(f"{field}: a rule about a target needs root or on_target=True")
        guard = Guard(rule, field, resolver=resolver, audit=audit, on_target=on_target)
        wrapper = _guard_resolver(guard)
    elif attr is not None:
        guard = Guard(rule, name or to_camel_case(attr), attr=attr, convert=convert, audit=audit)
        wrapper = _guard_attr(guard)
    else:
        if not rule.always_allows:
            raise ValueError("a rule that can deny needs a resolver or an attr to guard")
        return strawberry.field(metadata={GUARD_KEY: Guard(rule, name or "")}, **options)
    object.__setattr__(guard, "resolve", wrapper)
    return strawberry.field(
        resolver=wrapper, metadata={GUARD_KEY: guard}, is_subscription=subscription, **options
    )


def _guard_attr(guard: Guard) -> Callable[..., Any]:
    check, attr, convert = guard.rule.compile(), guard.attr, guard.convert
    assert attr is not None
    if guard.rule.always_allows:

        def read(root: Any, info: strawberry.Info) -> Any:
            value = getattr(root, attr)
            return value if convert is None or value is None else convert(value)

        return read

    def resolve(root: Any, info: strawberry.Info) -> Any:
        ctx = info.context
        decision = check(ctx, root)
        if decision is True:
            value = getattr(root, attr)
            return value if convert is None or value is None else convert(value)
        if decision is False:
            raise denial(ctx, guard.rule, guard.field, getattr(root, "id", None), guard.audit)
        return _resolve_later(decision, ctx, root)

    async def _resolve_later(decision: Awaitable[bool], ctx: Context, root: Any) -> Any:
        if not await decision:
            raise denial(ctx, guard.rule, guard.field, getattr(root, "id", None), guard.audit)
        value = getattr(root, attr)
        return value if convert is None or value is None else convert(value)

    return resolve


def _guard_resolver(guard: Guard) -> Callable[..., Any]:
    resolver = guard.resolver
    assert resolver is not None
    if "info" not in inspect.signature(resolver).parameters:
        raise TypeError(f"guarded resolver {guard.field} must take an info argument")
    check = guard.checked_first.compile()
    always = guard.checked_first.always_allows
    takes_root = "root" in inspect.signature(resolver).parameters

    @functools.wraps(resolver)
    async def wrapper(**kwargs: Any) -> Any:
        ctx = kwargs["info"].context
        if not always:
            target = kwargs["root"] if takes_root else None
            decision = check(ctx, target)
            if decision is not True and (decision is False or not await decision):
                raise denial(ctx, guard.rule, guard.field, getattr(target, "id", None), guard.audit)
        if not guard.on_target:
            result = resolver(**kwargs)
            return await result if inspect.isawaitable(result) else result
        checked: list[Rule] = []
        token = _target_checks.set(checked)
        try:
            result = resolver(**kwargs)
            result = await result if inspect.isawaitable(result) else result
        finally:
            _target_checks.reset(token)
        if guard.rule not in checked:
            raise RuntimeError(f"{guard.field} resolved without require() on its target")
        return result

    return wrapper


def direct_resolver(guard: Guard, make_info: Callable[[Any], Any]) -> Callable[..., Any]:
    """A graphql-core resolver ``(root, info)`` for a guarded field without arguments.

    The rule is checked synchronously and the business resolver's own awaitable returned, so
    an allowed field costs the check and nothing more. ``make_info`` turns graphql-core's info
    into the strawberry ``Info`` the business resolver takes.
    """
    if guard.resolve is None:
        raise ValueError(f"{guard.field} has nothing to resolve")
    if guard.attr is not None:
        return guard.resolve  # takes (root, info) and reads only info.context
    resolver = guard.resolver
    if guard.on_target or resolver is None:
        wrapper = guard.resolve
        return lambda root, info: wrapper(info=make_info(info))
    check = guard.checked_first.compile()
    rule, field, audit = guard.rule, guard.field, guard.audit
    if "root" not in inspect.signature(resolver).parameters:

        def resolve_field(root: Any, info: Any) -> Any:
            decision = check(info.context, None)
            if decision is True:
                return resolver(info=make_info(info))
            if decision is False:
                raise denial(info.context, rule, field, None, audit)
            return _after(decision, info, lambda: resolver(info=make_info(info)))

        return resolve_field

    def resolve(root: Any, info: Any) -> Any:
        decision = check(info.context, root)
        if decision is True:
            return resolver(root=root, info=make_info(info))
        if decision is False:
            raise denial(info.context, rule, field, getattr(root, "id", None), audit)
        return _after(decision, info, lambda: resolver(root=root, info=make_info(info)), root)

    async def _after(
        decision: Awaitable[bool], info: Any, call: Callable[[], Any], root: Any = None
    ) -> Any:
        if not await decision:
            raise denial(info.context, rule, field, getattr(root, "id", None), audit)
        result = call()
        return await result if inspect.isawaitable(result) else result

    return resolve


def decide(ctx: Context, rule: Rule, target: Any) -> Decision:
    """What ``rule`` answers for the viewer on ``target``: True, False, or an awaitable of
    either (when it must load the management chain first).

    The very check guards and :func:`require` run (the rule's compiled check), but it never
    raises and never audits: for telling a client what it may do, not for enforcing it.
    """
    return rule.compile()(ctx, target)


async def allows(ctx: Context, rule: Rule, target: Any) -> bool:
    """Whether ``rule`` would allow the viewer on ``target`` (:func:`decide`, awaited)."""
    decision = decide(ctx, rule, target)
    return decision if isinstance(decision, bool) else await decision


async def require(ctx: Context, rule: Rule, target: Any, action: str, audit: bool = True) -> None:
    """Raise the denial for ``action`` unless ``rule`` allows the viewer on ``target``.

    For object-level checks inside mutations, before any side effect.
    """
    decision = decide(ctx, rule, target)
    if decision is not True and (decision is False or not await decision):
        raise denial(ctx, rule, action, getattr(target, "id", None), audit)
    checked = _target_checks.get()
    if checked is not None:
        checked.append(rule)

"""Rule classes and their ``|``, ``&`` and ``~`` combinators.

A rule answers ``check(ctx, target)`` with True, False, or an awaitable of either when it must
load something first (only the management chain does, once per request). Combinators
short-circuit left to right, so a cheap rule placed first spares the expensive one.

Guards call :meth:`Rule.compile`'s function instead: the same answers, but whatever the
viewer's roles decide is worked out once per set of roles (``self | HR`` is simply True for
HR, and ``self`` for everyone else), leaving per field only what depends on the target.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from staffgraph.models import Role

if TYPE_CHECKING:
    from staffgraph.context import Context

Decision = bool | Awaitable[bool]
Check = Callable[["Context", Any], Decision]


class Rule:
    """A permission rule; ``label`` is how API.md's table writes it."""

    label: str = "?"
    #: True when the rule can never deny, so a guard need not evaluate it
    always_allows = False
    #: True when the rule looks at the target object (a user, a review, a session)
    needs_target = False

    def check(self, ctx: Context, target: Any) -> Decision:
        """Whether the viewer in ``ctx`` may act on ``target``."""
        raise NotImplementedError

    def before_target(self) -> Rule:
        """A rule this one implies that needs no target: what a mutation can check before it
        loads the object it acts on (``MANAGER & management chain`` gives ``MANAGER``)."""
        return AUTHENTICATED if self.needs_target else self

    def specialise(self, roles: frozenset[Role]) -> Rule | bool:
        """This rule for a signed-in viewer holding ``roles``: True or False when the roles
        decide it, else the part that still depends on the target."""
        return self if self.needs_target else bool(self.check_roles(roles))

    def check_roles(self, roles: frozenset[Role]) -> bool:
        """The answer of a rule that needs no target, for a signed-in viewer with ``roles``."""
        raise NotImplementedError

    def residual_check(self) -> Check:
        """``check`` for what :meth:`specialise` left: the viewer is known to be signed in."""
        return self.check

    def compile(self) -> Check:
        """A ``check`` with the same answers, faster: the viewer's roles are looked at once
        per set of roles, not once per field.

        Only :class:`Anyone` and :class:`ViaParent` allow an anonymous viewer, so any other
        rule denies one at once. Compiled once per rule object: every guard of a rule, and
        whoever asks what it would decide (:func:`staffgraph.permissions.guard.decide`),
        call the same function.
        """
        compiled: Check | None = self.__dict__.get("_compiled")
        if compiled is None:
            compiled = self.__dict__["_compiled"] = self._compile()
        return compiled

    def _compile(self) -> Check:
        if self.always_allows:
            return _allow
        residuals: dict[frozenset[Role], Check | bool] = {}

        def check(ctx: Context, target: Any) -> Decision:
            viewer = ctx.viewer
            if viewer is None:
                return False
            residual = residuals.get(viewer.roles)
            if residual is None:
                rest = self.specialise(viewer.roles)
                residual = residuals[viewer.roles] = (
                    rest if isinstance(rest, bool) else rest.residual_check()
                )
            if residual is True or residual is False:
                return residual
            return residual(ctx, target)

        return check

    def mentions(self, kind: type[Rule]) -> bool:
        """Whether this rule is, or combines, a rule of class ``kind``."""
        return isinstance(self, kind)

    def __or__(self, other: Rule) -> Rule:
        return AnyOf(self, other)

    def __and__(self, other: Rule) -> Rule:
        return AllOf(self, other)

    def __invert__(self) -> Rule:
        return Not(self)

    def __repr__(self) -> str:
        return f"<Rule {self.label}>"


class Anyone(Rule):
    """Anyone, signed in or not (login, token refresh, ``me``)."""

    label = "anyone"
    always_allows = True

    def check(self, ctx: Context, target: Any) -> Decision:
        return True

    def check_roles(self, roles: frozenset[Role]) -> bool:
        return True


class ViaParent(Rule):
    """Fields of wrapper objects (connections, edges, payloads, reviews) reachable only through
    a field that has its own rule: that rule already decided."""

    label = "parent"
    always_allows = True

    def check(self, ctx: Context, target: Any) -> Decision:
        return True

    def check_roles(self, roles: frozenset[Role]) -> bool:
        return True


class IsAuthenticated(Rule):
    """Any signed-in colleague."""

    label = "authenticated"

    def check(self, ctx: Context, target: Any) -> Decision:
        return ctx.viewer is not None

    def check_roles(self, roles: frozenset[Role]) -> bool:
        return True

    def _compile(self) -> Check:
        return self.check  # nothing to settle per set of roles


class HasRole(Rule):
    """The viewer holds ``role`` (as their access token says)."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.label = role.value

    def check(self, ctx: Context, target: Any) -> Decision:
        viewer = ctx.viewer
        return viewer is not None and self.role in viewer.roles

    def check_roles(self, roles: frozenset[Role]) -> bool:
        return self.role in roles


class IsSelf(Rule):
    """The target user is the viewer."""

    label = "self"
    needs_target = True

    def check(self, ctx: Context, target: Any) -> Decision:
        viewer = ctx.viewer
        return viewer is not None and target is not None and target.id == viewer.user_id

    def residual_check(self) -> Check:
        def is_self(ctx: Context, target: Any) -> Decision:
            return target is not None and target.id == ctx.viewer.user_id  # type: ignore[union-attr]

        return is_self


class InManagementChain(Rule):
    """The viewer is the target's manager, or that manager's manager, and so on up."""

    label = "management chain"
    needs_target = True

    def check(self, ctx: Context, target: Any) -> Decision:
        if ctx.viewer is None or target is None:
            return False
        subordinates = ctx.subordinates_if_loaded()
        if subordinates is not None:
            return target.id.int in subordinates
        return self._check_after_load(ctx, target)

    async def _check_after_load(self, ctx: Context, target: Any) -> bool:
        return target.id.int in await ctx.subordinates()

    def residual_check(self) -> Check:
        later = self._check_after_load

        def in_chain(ctx: Context, target: Any) -> Decision:
            subordinates = ctx.subordinates_if_loaded()
            if subordinates is not None:
                return target is not None and target.id.int in subordinates
            return False if target is None else later(ctx, target)

        return in_chain


class IsReviewer(Rule):
    """The viewer wrote the target review."""

    label = "reviewer"
    needs_target = True

    def check(self, ctx: Context, target: Any) -> Decision:
        viewer = ctx.viewer
        return viewer is not None and target is not None and target.reviewer_id == viewer.user_id


class IsOwner(Rule):
    """The target (a session) belongs to the viewer."""

    label = "owner"
    needs_target = True

    def check(self, ctx: Context, target: Any) -> Decision:
        viewer = ctx.viewer
        return viewer is not None and target is not None and target.user_id == viewer.user_id


class Not(Rule):
    """Allows a signed-in viewer when ``rule`` denies (separation of duties: ``not self``).

    An anonymous viewer is never allowed, whatever ``rule`` says.
    """

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.needs_target = rule.needs_target
        self.label = f"not ({rule.label})" if isinstance(rule, _Combined) else f"not {rule.label}"

    def check(self, ctx: Context, target: Any) -> Decision:
        if ctx.viewer is None:
            return False
        decision = self.rule.check(ctx, target)
        if decision is True or decision is False:
            return not decision
        return self._negate(decision)

    @staticmethod
    async def _negate(pending: Awaitable[bool]) -> bool:
        return not await pending

    def before_target(self) -> Rule:
        # "not X" implies nothing about X's target-free part: only that someone signed in
        return AUTHENTICATED if self.needs_target else self

    def mentions(self, kind: type[Rule]) -> bool:
        return isinstance(self, kind) or self.rule.mentions(kind)

    def specialise(self, roles: frozenset[Role]) -> Rule | bool:
        rest = self.rule.specialise(roles)
        return (not rest) if isinstance(rest, bool) else Not(rest)


class _Combined(Rule):
    """``|`` and ``&``: one implementation, told apart by the decision that settles them."""

    joiner = ""
    #: the answer that ends the evaluation: True for ``|``, False for ``&``
    decisive = True
    rules: tuple[Rule, ...] = ()

    def __init__(self, *rules: Rule) -> None:
        flat: list[Rule] = []
        for rule in rules:
            # (a | b) | c is a | b | c: flatten so labels print without redundant parentheses
            flat.extend(rule.rules if type(rule) is type(self) else [rule])
        self.rules = tuple(flat)
        self.needs_target = any(r.needs_target for r in self.rules)
        # a nested combination is always parenthesised: "self | HR | (MANAGER & management chain)"
        self.label = f" {self.joiner} ".join(
            f"({r.label})" if isinstance(r, _Combined) else r.label for r in self.rules
        )
        parts = [r.always_allows for r in self.rules]
        self.always_allows = any(parts) if self.decisive else all(parts)

    def mentions(self, kind: type[Rule]) -> bool:
        return isinstance(self, kind) or any(r.mentions(kind) for r in self.rules)

    def check(self, ctx: Context, target: Any) -> Decision:
        return _combine(self.rules, 0, self.decisive, ctx, target)

    def residual_check(self) -> Check:
        if len(self.rules) != 2:
            return self.check
        first, second = (rule.residual_check() for rule in self.rules)
        rules, decisive = self.rules, self.decisive

        def combined(ctx: Context, target: Any) -> Decision:
            decision = first(ctx, target)
            if isinstance(decision, bool):
                return decisive if decision is decisive else second(ctx, target)
            return _combine_later(decision, rules, 1, decisive, ctx, target)

        return combined

    def specialise(self, roles: frozenset[Role]) -> Rule | bool:
        rest: list[Rule] = []
        for rule in self.rules:
            part = rule.specialise(roles)
            if part is self.decisive:
                return self.decisive
            if not isinstance(part, bool):
                rest.append(part)
        if not rest:
            return not self.decisive
        return rest[0] if len(rest) == 1 else type(self)(*rest)


class AnyOf(_Combined):
    """Allows when any of its rules allows."""

    joiner = "|"
    decisive = True

    def before_target(self) -> Rule:
        if not self.needs_target:
            return self
        parts = [r.before_target() for r in self.rules]
        # anything | AUTHENTICATED is AUTHENTICATED: every part implies a signed-in viewer
        return AUTHENTICATED if AUTHENTICATED in parts else AnyOf(*parts)


class AllOf(_Combined):
    """Allows when every one of its rules allows."""

    joiner = "&"
    decisive = False

    def before_target(self) -> Rule:
        if not self.needs_target:
            return self
        parts: list[Rule] = []
        for part in (r.before_target() for r in self.rules):
            if part not in parts:
                parts.append(part)
        return parts[0] if len(parts) == 1 else AllOf(*parts)


def _combine(
    rules: tuple[Rule, ...], start: int, decisive: bool, ctx: Context, target: Any
) -> Decision:
    """Left to right from ``start``: ``decisive`` at the first rule that answers it, the other
    answer when none does, or an awaitable from the first rule that must load something."""
    for index in range(start, len(rules)):
        decision = rules[index].check(ctx, target)
        if decision is decisive:
            return decisive
        if not isinstance(decision, bool):
            return _combine_later(decision, rules, index + 1, decisive, ctx, target)
    return not decisive


async def _combine_later(
    pending: Awaitable[bool],
    rules: tuple[Rule, ...],
    start: int,
    decisive: bool,
    ctx: Context,
    target: Any,
) -> bool:
    if await pending is decisive:
        return decisive
    rest = _combine(rules, start, decisive, ctx, target)
    return rest if isinstance(rest, bool) else await rest


def _allow(ctx: Context, target: Any) -> Decision:
    return True


ANYONE = Anyone()
AUTHENTICATED = IsAuthenticated()

"""Rule classes and their ``|`` / ``&`` combinators.

A rule answers ``check(ctx, target)`` with True, False, or an awaitable of either when it must
load something first (only the management chain does, once per request). Combinators
short-circuit left to right, so a cheap rule placed first spares the expensive one.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from staffgraph.models import Role

if TYPE_CHECKING:
    from staffgraph.context import Context

Decision = bool | Awaitable[bool]


class Rule:
    """A permission rule; ``label`` is how API.md's table writes it."""

    label: str = "?"
    #: binding strength when printed: 3 atom, 2 ``&``, 1 ``|``
    precedence = 3
    #: True when the rule can never deny, so a guard need not evaluate it
    always_allows = False

    def check(self, ctx: Context, target: Any) -> Decision:
        """Whether the viewer in ``ctx`` may act on ``target``."""
        raise NotImplementedError

    def __or__(self, other: Rule) -> Rule:
        return AnyOf(self, other)

    def __and__(self, other: Rule) -> Rule:
        return AllOf(self, other)

    def __repr__(self) -> str:
        return f"<Rule {self.label}>"


class Anyone(Rule):
    """Anyone, signed in or not (login, token refresh, ``me``)."""

    label = "anyone"
    always_allows = True

    def check(self, ctx: Context, target: Any) -> Decision:
        return True


class ViaParent(Rule):
    """Fields of wrapper objects (connections, edges, payloads) reachable only through a
    field that has its own rule: that rule already decided."""

    label = "parent"
    always_allows = True

    def check(self, ctx: Context, target: Any) -> Decision:
        return True


class IsAuthenticated(Rule):
    """Any signed-in colleague."""

    label = "authenticated"

    def check(self, ctx: Context, target: Any) -> Decision:
        return ctx.viewer is not None


class HasRole(Rule):
    """The viewer holds ``role``."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.label = role.value

    def check(self, ctx: Context, target: Any) -> Decision:
        viewer = ctx.viewer
        return viewer is not None and self.role in viewer.roles


class IsSelf(Rule):
    """The target user is the viewer."""

    label = "self"

    def check(self, ctx: Context, target: Any) -> Decision:
        viewer = ctx.viewer
        return viewer is not None and target.id == viewer.user_id


class InManagementChain(Rule):
    """The viewer is the target's manager, or that manager's manager, and so on up."""

    label = "management chain"

    def check(self, ctx: Context, target: Any) -> Decision:
        if ctx.viewer is None:
            return False
        subordinates = ctx.subordinates_if_loaded()
        if subordinates is not None:
            return target.id in subordinates
        return self._check_after_load(ctx, target)

    async def _check_after_load(self, ctx: Context, target: Any) -> bool:
        return target.id in await ctx.subordinates()


class IsReviewer(Rule):
    """The viewer wrote the target review."""

    label = "reviewer"

    def check(self, ctx: Context, target: Any) -> Decision:
        viewer = ctx.viewer
        return viewer is not None and target.reviewer_id == viewer.user_id


class IsOwner(Rule):
    """The target (a session) belongs to the viewer."""

    label = "owner"

    def check(self, ctx: Context, target: Any) -> Decision:
        viewer = ctx.viewer
        return viewer is not None and target.user_id == viewer.user_id


class _Combined(Rule):
    joiner = ""
    rules: tuple[Rule, ...] = ()

    def __init__(self, *rules: Rule) -> None:
        flat: list[Rule] = []
        for rule in rules:
            # (a | b) | c is a | b | c: flatten so labels print without redundant parentheses
            flat.extend(
                rule.rules if isinstance(rule, _Combined) and type(rule) is type(self) else [rule]
            )
        self.rules = tuple(flat)
        self.label = f" {self.joiner} ".join(
            f"({r.label})" if r.precedence < self.precedence else r.label for r in self.rules
        )


class AnyOf(_Combined):
    """Allows when any of its rules allows."""

    joiner = "|"
    precedence = 1

    def __init__(self, *rules: Rule) -> None:
        super().__init__(*rules)
        self.always_allows = any(r.always_allows for r in self.rules)

    def check(self, ctx: Context, target: Any) -> Decision:
        return _any(self.rules, 0, ctx, target)


class AllOf(_Combined):
    """Allows when every one of its rules allows."""

    joiner = "&"
    precedence = 2

    def __init__(self, *rules: Rule) -> None:
        super().__init__(*rules)
        self.always_allows = all(r.always_allows for r in self.rules)

    def check(self, ctx: Context, target: Any) -> Decision:
        return _all(self.rules, 0, ctx, target)


def _any(rules: tuple[Rule, ...], start: int, ctx: Context, target: Any) -> Decision:
    for index in range(start, len(rules)):
        decision = rules[index].check(ctx, target)
        if decision is True:
            return True
        if decision is not False:
            return _any_async(decision, rules, index + 1, ctx, target)
    return False


async def _any_async(
    pending: Awaitable[bool], rules: tuple[Rule, ...], start: int, ctx: Context, target: Any
) -> bool:
    if await pending:
        return True
    rest = _any(rules, start, ctx, target)
    return rest if isinstance(rest, bool) else await rest


def _all(rules: tuple[Rule, ...], start: int, ctx: Context, target: Any) -> Decision:
    for index in range(start, len(rules)):
        decision = rules[index].check(ctx, target)
        if decision is False:
            return False
        if decision is not True:
            return _all_async(decision, rules, index + 1, ctx, target)
    return True


async def _all_async(
    pending: Awaitable[bool], rules: tuple[Rule, ...], start: int, ctx: Context, target: Any
) -> bool:
    if not await pending:
        return False
    rest = _all(rules, start, ctx, target)
    return rest if isinstance(rest, bool) else await rest


ANYONE = Anyone()
AUTHENTICATED = IsAuthenticated()

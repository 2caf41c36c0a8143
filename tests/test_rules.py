"""The rule classes and their combinators, evaluated directly (no HTTP)."""

from __future__ import annotations

import inspect
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from staffgraph.context import Context, Viewer
from staffgraph.loaders import Loaders
from staffgraph.models import Role
from staffgraph.permissions import policy as p
from staffgraph.permissions.rules import (
    ANYONE,
    AUTHENTICATED,
    AllOf,
    AnyOf,
    HasRole,
    InManagementChain,
    IsOwner,
    IsReviewer,
    IsSelf,
    Not,
    Rule,
    ViaParent,
)
from tests.conftest import make_user

ME = uuid.uuid4()


def context(*roles: Role, user_id: uuid.UUID = ME, below: set[uuid.UUID] | None = None) -> Context:
    """A request context for a viewer with ``roles`` (None roles and no id: anonymous)."""
    viewer = Viewer(user_id, uuid.uuid4(), frozenset(roles))
    ctx = Context(services=None, loaders=Loaders(), viewer=viewer)  # type: ignore[arg-type]
    if below is not None:
        ctx._subordinates = frozenset(user_id.int for user_id in below)
    return ctx


def anonymous() -> Context:
    return Context(services=None, loaders=Loaders())  # type: ignore[arg-type]


def person(user_id: uuid.UUID | None = None) -> Any:
    return SimpleNamespace(id=user_id or uuid.uuid4())


async def decide(rule: Rule, ctx: Context, target: Any = None) -> bool:
    decision = rule.check(ctx, target)
    return decision if isinstance(decision, bool) else await decision


class Probe(Rule):
    """A rule with a fixed answer, sync or async, that counts how often it is asked."""

    def __init__(self, label: str, answer: bool, *, later: bool = False) -> None:
        self.label = label
        self.answer = answer
        self.later = later
        self.calls = 0
        self.awaited = 0

    def check(self, ctx: Context, target: Any) -> Any:
        self.calls += 1
        return self._answer() if self.later else self.answer

    async def _answer(self) -> bool:
        self.awaited += 1
        return self.answer


# --- the atoms ---------------------------------------------------------------------------


async def test_is_authenticated():
    assert await decide(AUTHENTICATED, context()) is True
    assert await decide(AUTHENTICATED, anonymous()) is False


async def test_anyone_and_parent_allow_everybody():
    for rule in (ANYONE, ViaParent()):
        assert rule.always_allows
        assert await decide(rule, anonymous()) is True


@pytest.mark.parametrize("role", list(Role))
async def test_has_role(role):
    rule = HasRole(role)
    assert rule.label == role.value
    assert await decide(rule, context(role)) is True
    others = [r for r in Role if r is not role]
    assert await decide(rule, context(*others)) is False
    assert await decide(rule, anonymous()) is False


async def test_is_self():
    assert await decide(IsSelf(), context(), person(ME)) is True
    assert await decide(IsSelf(), context(), person()) is False
    assert await decide(IsSelf(), anonymous(), person(ME)) is False
    assert await decide(IsSelf(), context(), None) is False


async def test_is_reviewer_and_is_owner():
    review = SimpleNamespace(id=uuid.uuid4(), reviewer_id=ME)
    session = SimpleNamespace(id=uuid.uuid4(), user_id=ME)
    assert await decide(IsReviewer(), context(), review) is True
    assert await decide(IsOwner(), context(), session) is True
    someone = context(user_id=uuid.uuid4())
    assert await decide(IsReviewer(), someone, review) is False
    assert await decide(IsOwner(), someone, session) is False
    assert await decide(IsReviewer(), anonymous(), review) is False
    assert await decide(IsOwner(), anonymous(), session) is False


async def test_chain_answers_at_once_when_the_subtree_is_loaded():
    report = uuid.uuid4()
    ctx = context(below={report})
    assert InManagementChain().check(ctx, person(report)) is True
    assert InManagementChain().check(ctx, person()) is False
    assert InManagementChain().check(anonymous(), person(report)) is False


async def test_chain_loads_the_subtree_once_per_request(db, monkeypatch):
    top = await make_user("top@example.com", password=None)
    middle = await make_user("middle@example.com", password=None, manager=top)
    bottom = await make_user("bottom@example.com", password=None, manager=middle)
    peer = await make_user("peer@example.com", password=None)
    loads = []
    from staffgraph.resolvers import hierarchy

    real = hierarchy.load_subordinate_ids

    async def counting(manager_id: uuid.UUID) -> frozenset[uuid.UUID]:
        loads.append(manager_id)
        return await real(manager_id)

    monkeypatch.setattr(hierarchy, "load_subordinate_ids", counting)
    ctx = context(user_id=top.id)
    first = InManagementChain().check(ctx, middle)
    assert inspect.isawaitable(first)
    assert await first is True
    assert InManagementChain().check(ctx, bottom) is True  # indirect, answered from the cache
    assert InManagementChain().check(ctx, peer) is False
    assert InManagementChain().check(ctx, top) is False  # nobody manages themselves
    assert loads == [top.id]
    upward = context(user_id=bottom.id)
    assert await decide(InManagementChain(), upward, top) is False


async def test_concurrent_chain_checks_share_one_load(db, monkeypatch):
    import asyncio

    from staffgraph.resolvers import hierarchy

    boss = await make_user("boss@example.com", password=None)
    reports = [await make_user(f"r{i}@example.com", password=None, manager=boss) for i in range(5)]
    calls = 0
    real = hierarchy.load_subordinate_ids

    async def counting(manager_id: uuid.UUID) -> frozenset[uuid.UUID]:
        nonlocal calls
        calls += 1
        return await real(manager_id)

    monkeypatch.setattr(hierarchy, "load_subordinate_ids", counting)
    ctx = context(user_id=boss.id)
    results = await asyncio.gather(*(decide(InManagementChain(), ctx, r) for r in reports))
    assert results == [True] * 5
    assert calls == 1


# --- combinators -------------------------------------------------------------------------


async def test_or_short_circuits_on_the_first_yes():
    yes, never = Probe("yes", True), Probe("never", False)
    assert (yes | never).check(context(), None) is True
    assert never.calls == 0


async def test_or_asks_everyone_before_saying_no():
    a, b, c = Probe("a", False), Probe("b", False), Probe("c", False)
    assert (a | b | c).check(context(), None) is False
    assert (a.calls, b.calls, c.calls) == (1, 1, 1)


async def test_or_awaits_a_pending_rule_then_stops_when_it_allows():
    pending, never = Probe("pending", True, later=True), Probe("never", False)
    decision = (pending | never).check(context(), None)
    assert inspect.isawaitable(decision)
    assert await decision is True
    assert pending.awaited == 1
    assert never.calls == 0


async def test_or_goes_on_after_a_pending_rule_denies():
    pending = Probe("pending", False, later=True)
    second = Probe("second", False, later=True)
    last = Probe("last", True)
    assert await (pending | second | last).check(context(), None) is True
    assert (pending.awaited, second.awaited, last.calls) == (1, 1, 1)
    assert await (Probe("p", False, later=True) | Probe("q", False)).check(context(), None) is False


async def test_or_does_not_start_a_pending_rule_after_a_sync_yes():
    cheap, costly = Probe("cheap", True), Probe("costly", True, later=True)
    assert (cheap | costly).check(context(), None) is True
    assert costly.calls == 0


async def test_and_short_circuits_on_the_first_no():
    no, never = Probe("no", False), Probe("never", True, later=True)
    assert (no & never).check(context(), None) is False
    assert never.calls == 0


async def test_and_needs_every_yes():
    a, b = Probe("a", True), Probe("b", True)
    assert (a & b).check(context(), None) is True
    assert (Probe("a", True) & Probe("b", False)).check(context(), None) is False


async def test_and_awaits_a_pending_rule_then_stops_when_it_denies():
    pending, never = Probe("pending", False, later=True), Probe("never", True)
    decision = (pending & never).check(context(), None)
    assert inspect.isawaitable(decision)
    assert await decision is False
    assert never.calls == 0


async def test_and_goes_on_after_a_pending_rule_allows():
    pending, second, last = (
        Probe("pending", True, later=True),
        Probe("second", True, later=True),
        Probe("last", False),
    )
    assert await (pending & second & last).check(context(), None) is False
    assert (pending.awaited, second.awaited, last.calls) == (1, 1, 1)
    assert await (Probe("p", True, later=True) & Probe("q", True)).check(context(), None) is True


async def test_not_negates_sync_and_async_answers():
    assert (~Probe("a", True)).check(context(), None) is False
    assert (~Probe("a", False)).check(context(), None) is True
    assert await (~Probe("a", True, later=True)).check(context(), None) is False
    assert await (~Probe("a", False, later=True)).check(context(), None) is True


async def test_not_never_allows_an_anonymous_viewer():
    inner = Probe("a", False)
    assert (~inner).check(anonymous(), None) is False
    assert inner.calls == 0


async def test_nested_combinations_mix_sync_and_async():
    # self | HR | (MANAGER & management chain), with the chain still to load
    rule = IsSelf() | HasRole(Role.HR) | (HasRole(Role.MANAGER) & Probe("chain", True, later=True))
    assert await decide(rule, context(Role.MANAGER), person()) is True
    assert await decide(rule, context(Role.EMPLOYEE), person()) is False
    assert rule.check(context(Role.HR), person()) is True


# --- labels and metadata -----------------------------------------------------------------


def test_labels_read_like_the_contract():
    assert p.READ_ROLES.label == "self | HR | ADMIN"
    assert p.READ_IS_ACTIVE.label == "HR | ADMIN"
    assert p.READ_PHONE.label == "self | HR | management chain"
    assert p.READ_HOME_ADDRESS.label == "self | HR"
    assert p.READ_DATE_OF_BIRTH.label == "self | HR"
    assert p.READ_SALARY.label == "self | HR | (MANAGER & management chain)"
    assert p.READ_LAST_LOGIN.label == "self | ADMIN"
    assert p.READ_REVIEWS.label == "self | HR | management chain"
    assert p.READ_SESSIONS.label == "self | ADMIN"
    assert p.SET_SALARY.label == "HR & not self"
    assert p.DEACTIVATE_USER.label == "(HR | ADMIN) & not self"
    assert p.WRITE_REVIEW.label == "MANAGER & management chain"
    assert p.REVOKE_SESSION.label == "owner | ADMIN"


def test_combinations_flatten_and_parenthesise():
    a, b, c = HasRole(Role.HR), HasRole(Role.ADMIN), IsSelf()
    assert isinstance((a | b) | c, AnyOf)
    assert len(((a | b) | c).rules) == 3  # type: ignore[attr-defined]
    assert len((a & (b & c)).rules) == 3  # type: ignore[attr-defined]
    assert (a | (b & c)).label == "HR | (ADMIN & self)"
    assert (a & (b | c)).label == "HR & (ADMIN | self)"
    assert (~(a | c)).label == "not (HR | self)"
    assert isinstance(~c, Not)


def test_always_allows_propagates():
    assert (ANYONE | HasRole(Role.HR)).always_allows
    assert not (ANYONE & HasRole(Role.HR)).always_allows
    assert (ANYONE & ViaParent()).always_allows
    assert not AUTHENTICATED.always_allows


def test_needs_target_propagates():
    assert not p.MANAGE_USERS.needs_target
    assert p.READ_SALARY.needs_target
    assert p.SET_SALARY.needs_target
    assert isinstance(p.WRITE_REVIEW, AllOf)


async def test_before_target_is_implied_and_needs_no_target():
    # what an on_target mutation checks before it loads anything
    cases = {
        p.WRITE_REVIEW: [(Role.MANAGER,), True, (Role.HR,), False],
        p.SET_SALARY: [(Role.HR,), True, (Role.MANAGER,), False],
        p.DEACTIVATE_USER: [(Role.ADMIN,), True, (Role.EMPLOYEE,), False],
        p.SHARE_REVIEW: [(Role.EMPLOYEE,), True, (), True],
        p.REVOKE_SESSION: [(Role.EMPLOYEE,), True, (), True],
    }
    for rule, (roles_a, expect_a, roles_b, expect_b) in cases.items():
        first = rule.before_target()
        assert not first.needs_target, rule
        assert await decide(first, context(*roles_a)) is expect_a, rule
        assert await decide(first, context(*roles_b)) is expect_b, rule
        assert await decide(first, anonymous()) is False, rule
    assert p.MANAGE_USERS.before_target() is p.MANAGE_USERS


# --- compiled checks ---------------------------------------------------------------------

POLICY_RULES = {
    name: value for name, value in vars(p).items() if isinstance(value, Rule) and name.isupper()
}
ROLE_SETS = [
    frozenset(role for bit, role in enumerate(Role) if mask >> bit & 1) for mask in range(16)
]


@pytest.mark.parametrize("name", sorted(POLICY_RULES))
async def test_compiled_checks_answer_like_the_rules(name):
    """Every policy rule, for every set of roles, on a target that is or is not the viewer,
    below them or not, written or owned by them or not: the same answer both ways."""
    rule = POLICY_RULES[name]
    fast = rule.compile()
    for roles in ROLE_SETS:
        for own in (True, False):
            for below in (True, False):
                target = SimpleNamespace(
                    id=ME if own else uuid.uuid4(),
                    reviewer_id=ME if own else uuid.uuid4(),
                    user_id=ME if own else uuid.uuid4(),
                )
                ctx = context(*roles, below={target.id} if below else set())
                expected = await decide(rule, ctx, target)
                got = fast(ctx, target)
                got = got if isinstance(got, bool) else await got
                assert got is expected, (name, sorted(roles), own, below)
        assert fast(anonymous(), SimpleNamespace(id=ME)) is rule.always_allows


async def test_compiled_checks_decide_by_roles_alone_when_they_can():
    fast = p.READ_SALARY.compile()
    hr = context(Role.HR)  # the subtree is not loaded: no await needed for HR
    assert fast(hr, person()) is True
    employee = context(Role.EMPLOYEE)
    assert fast(employee, person()) is False  # neither self nor a MANAGER: no chain load
    report = uuid.uuid4()
    manager = context(Role.MANAGER, below={report})  # only a MANAGER looks at the chain
    assert fast(manager, person(report)) is True
    assert fast(manager, person()) is False


def test_specialise_keeps_only_what_depends_on_the_target():
    roles = frozenset({Role.MANAGER})
    assert p.READ_SALARY.specialise(roles).label == "self | management chain"  # type: ignore[union-attr]
    assert p.READ_SALARY.specialise(frozenset({Role.HR})) is True
    assert p.READ_IS_ACTIVE.specialise(roles) is False
    assert p.SET_SALARY.specialise(frozenset({Role.HR})).label == "not self"  # type: ignore[union-attr]
    assert p.SET_SALARY.specialise(roles) is False


async def test_compiled_checks_wait_for_the_chain_like_the_rules(db):
    boss = await make_user("boss@example.com", password=None)
    report = await make_user("report@example.com", password=None, manager=boss)
    stranger = await make_user("stranger@example.com", password=None)
    for name in ("READ_SALARY", "READ_PHONE", "WRITE_REVIEW", "SET_SALARY", "DEACTIVATE_USER"):
        rule = POLICY_RULES[name]
        for roles in ROLE_SETS:
            for target in (boss, report, stranger):
                cold = context(*roles, user_id=boss.id)  # the subtree is not loaded yet
                got = rule.compile()(cold, target)
                got = got if isinstance(got, bool) else await got
                expected = await decide(rule, context(*roles, user_id=boss.id), target)
                assert got is expected, (name, sorted(roles), target.email)

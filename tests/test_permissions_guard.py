"""The guard itself, on a small schema: on_target mutations must check their target, and the
resolvers installed in graphql-core answer as strawberry's path does."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry

from staffgraph.context import Context, Viewer
from staffgraph.loaders import Loaders
from staffgraph.models import Role
from staffgraph.permissions import guarded, require
from staffgraph.permissions import policy as p
from staffgraph.permissions.install import install_guards

ME = uuid.uuid4()
OTHER = uuid.uuid4()


async def _forgetful(info: strawberry.Info, id: strawberry.ID) -> bool:
    return True  # acts without checking the target


async def _careful(info: strawberry.Info, id: strawberry.ID) -> bool:
    target = SimpleNamespace(id=uuid.UUID(str(id)))
    await require(info.context, p.SET_SALARY, target, "careful")
    return True


async def _checks_another_rule(info: strawberry.Info, id: strawberry.ID) -> bool:
    await require(info.context, p.HR, None, "other")
    return True


@strawberry.type
class Person:
    name: str = guarded(p.COLLEAGUE, "Name.", attr="name")
    salary: int | None = guarded(p.READ_SALARY, "Pay.", attr="salary")

    @staticmethod
    async def _friend(root: Any, info: strawberry.Info) -> Person | None:
        return root.friend  # type: ignore[no-any-return]

    friend: Person | None = guarded(p.READ_PHONE, "A friend.", resolver=_friend)


def _people() -> Any:
    friend = SimpleNamespace(id=OTHER, name="Friend", salary=2, friend=None)
    return SimpleNamespace(id=ME, name="Me", salary=1, friend=friend)


async def _me(info: strawberry.Info) -> Person:
    return _people()  # type: ignore[no-any-return]


@strawberry.type
class Query:
    me: Person = guarded(p.COLLEAGUE, "Me.", resolver=_me)


@strawberry.type
class Mutation:
    forgetful: bool = guarded(p.SET_SALARY, resolver=_forgetful, mutation=True, on_target=True)
    careful: bool = guarded(p.SET_SALARY, resolver=_careful, mutation=True, on_target=True)
    other: bool = guarded(
        p.SET_SALARY, resolver=_checks_another_rule, mutation=True, on_target=True
    )


def _schema(installed: bool) -> strawberry.Schema:
    schema = strawberry.Schema(query=Query, mutation=Mutation)
    if installed:
        assert install_guards(schema) > 0
    return schema


def _context(*roles: Role, below: set[uuid.UUID] | None = None) -> Context:
    viewer = Viewer(ME, uuid.uuid4(), frozenset(roles))
    ctx = Context(services=None, loaders=Loaders(), viewer=viewer)  # type: ignore[arg-type]
    ctx._subordinates = frozenset(user_id.int for user_id in below or ())
    return ctx


@pytest.mark.parametrize("installed", [False, True])
async def test_an_on_target_mutation_that_skips_require_fails(installed):
    schema = _schema(installed)
    result = await schema.execute(
        f'mutation {{ forgetful(id: "{OTHER}") }}', context_value=_context(Role.HR)
    )
    assert result.errors
    assert "without require() on its target" in str(result.errors[0].original_error)


@pytest.mark.parametrize("installed", [False, True])
async def test_require_must_check_the_declared_rule(installed):
    result = await _schema(installed).execute(
        f'mutation {{ other(id: "{OTHER}") }}', context_value=_context(Role.HR)
    )
    assert result.errors
    assert "without require()" in str(result.errors[0].original_error)


@pytest.mark.parametrize("installed", [False, True])
async def test_an_on_target_mutation_checks_before_and_on_the_target(installed):
    schema = _schema(installed)
    allowed = await schema.execute(
        f'mutation {{ careful(id: "{OTHER}") }}', context_value=_context(Role.HR)
    )
    assert allowed.errors is None
    assert allowed.data == {"careful": True}
    itself = await schema.execute(
        f'mutation {{ careful(id: "{ME}") }}', context_value=_context(Role.HR)
    )
    assert itself.errors[0].extensions == {"code": "FORBIDDEN", "rule": "HR & not self"}
    # not HR: refused before the resolver runs
    early = await schema.execute(
        f'mutation {{ careful(id: "{OTHER}") }}', context_value=_context(Role.ADMIN)
    )
    assert early.errors[0].extensions == {"code": "FORBIDDEN", "rule": "HR & not self"}


@pytest.mark.parametrize("installed", [False, True])
@pytest.mark.parametrize(
    ("roles", "below", "friend_salary"),
    [
        ((Role.EMPLOYEE,), set(), None),  # not the friend's manager
        ((Role.MANAGER,), {OTHER}, 2),  # manages the friend
        ((Role.EMPLOYEE,), {OTHER}, None),  # in the chain without MANAGER: no pay
        ((Role.HR,), set(), 2),
    ],
)
async def test_installed_and_strawberry_resolvers_agree(installed, roles, below, friend_salary):
    result = await _schema(installed).execute(
        "{ me { name salary friend { name salary } } }",
        context_value=_context(*roles, below=below),
    )
    assert result.data == {
        "me": {"name": "Me", "salary": 1, "friend": {"name": "Friend", "salary": friend_salary}}
    }
    denied = [".".join(map(str, e.path)) for e in result.errors or []]
    assert denied == ([] if friend_salary else ["me.friend.salary"])


@pytest.mark.parametrize("installed", [False, True])
async def test_a_denied_resolver_field_is_null_with_its_error(installed):
    # friend is guarded by "self | HR | management chain" on its parent
    schema = _schema(installed)
    ctx = _context(Role.EMPLOYEE)
    ctx.viewer = Viewer(uuid.uuid4(), uuid.uuid4(), frozenset({Role.EMPLOYEE}))
    result = await schema.execute("{ me { name friend { name } } }", context_value=ctx)
    assert result.data == {"me": {"name": "Me", "friend": None}}
    [error] = result.errors or []
    assert error.path == ["me", "friend"]
    assert error.extensions == {"code": "FORBIDDEN", "rule": "self | HR | management chain"}
